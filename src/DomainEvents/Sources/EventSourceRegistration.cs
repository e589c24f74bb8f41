namespace DomainEvents.Sources;

/// <summary>An entity type with event sources, so a save looks only at entries of types that have some.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="Events">Runs every source of the type registered in the scope on an entity of it.</param>
public sealed record EventSourceRegistration(Type EntityType, Func<IServiceProvider, object, IEnumerable<IDomainEvent>> Events);
