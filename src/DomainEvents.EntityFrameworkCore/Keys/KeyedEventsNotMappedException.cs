using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>A keyed event was raised in a context whose model has no ledger of handled keys. Nothing is committed.</summary>
public sealed class KeyedEventsNotMappedException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="contextType">The DbContext.</param>
    /// <param name="eventType">The keyed event.</param>
    public KeyedEventsNotMappedException(Type contextType, Type eventType)
        : base($"{eventType.Name} is a keyed event, but {contextType.Name} has no ledger of handled keys: call modelBuilder.AddDomainEventsKeyedEvents() in OnModelCreating and add a migration.")
    {
        ContextType = contextType;
        EventType = eventType;
    }

    /// <summary>Gets the DbContext type.</summary>
    public Type ContextType { get; }

    /// <summary>Gets the keyed event's type.</summary>
    public Type EventType { get; }
}
