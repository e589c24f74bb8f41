namespace DomainEvents.Sources;

/// <summary>
/// An entity type with event sources, so a save looks only at entries of types that have some. Registered by
/// <c>AddEventSource</c> (one per entity type); an outbox reads them from the service provider.
/// </summary>
public sealed class EventSourceRegistration
{
    internal EventSourceRegistration(Type entityType, Func<IServiceProvider, object, IEnumerable<IDomainEvent>> events)
    {
        EntityType = entityType;
        Events = events;
    }

    /// <summary>Gets the entity type.</summary>
    public Type EntityType { get; }

    /// <summary>Gets what runs every source of the type registered in the scope on an entity of it.</summary>
    public Func<IServiceProvider, object, IEnumerable<IDomainEvent>> Events { get; }
}
