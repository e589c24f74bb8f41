namespace DomainEvents.Sources;

/// <summary>An entity type with event sources, so a save looks only at entries of types that have some.</summary>
/// <param name="EntityType">The entity type.</param>
/// <param name="SourceType">The closed <c>IEventSource&lt;TEntity&gt;</c> to resolve.</param>
internal sealed record EventSourceRegistration(Type EntityType, Type SourceType);
