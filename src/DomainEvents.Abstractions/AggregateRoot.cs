namespace DomainEvents;

/// <summary>
/// Base class for aggregates that raise domain events. Events stay on the aggregate until a save that
/// dispatched them succeeds, so a failed save loses none of them.
/// </summary>
public abstract class AggregateRoot : IHasDomainEvents
{
    private readonly List<IDomainEvent> _domainEvents = [];

    /// <inheritdoc />
    public IReadOnlyList<IDomainEvent> DomainEvents => _domainEvents;

    /// <summary>Records an event; it is dispatched when the unit of work is saved.</summary>
    /// <param name="domainEvent">The event.</param>
    protected void Raise(IDomainEvent domainEvent)
    {
        ArgumentNullException.ThrowIfNull(domainEvent);
        _domainEvents.Add(domainEvent);
    }

    /// <inheritdoc />
    public void RemoveDomainEvents(IEnumerable<IDomainEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        foreach (var domainEvent in events.ToArray())
        {
            var index = _domainEvents.FindIndex(e => ReferenceEquals(e, domainEvent));
            if (index >= 0)
            {
                _domainEvents.RemoveAt(index);
            }
        }
    }

    /// <summary>Discards every recorded event without dispatching it.</summary>
    public void ClearDomainEvents() => _domainEvents.Clear();
}
