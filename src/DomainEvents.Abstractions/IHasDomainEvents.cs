namespace DomainEvents;

/// <summary>
/// An entity that records domain events in memory until the unit of work is saved.
/// <see cref="AggregateRoot"/> implements it; implement it yourself when your aggregates already have a base class.
/// </summary>
public interface IHasDomainEvents
{
    /// <summary>Gets the events raised since the last successful save, in the order they were raised.</summary>
    IReadOnlyList<IDomainEvent> DomainEvents { get; }

    /// <summary>Removes the given events, which have been dispatched and committed.</summary>
    /// <param name="events">The events to remove; events raised after them stay.</param>
    void RemoveDomainEvents(IEnumerable<IDomainEvent> events);
}
