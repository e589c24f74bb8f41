using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Interception;

/// <summary>
/// <c>SaveChanges()</c> was called while aggregates had domain events to dispatch. Handlers are asynchronous,
/// and running them synchronously would block a thread on async work (and can deadlock).
/// </summary>
public sealed class SynchronousSaveNotSupportedException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="eventCount">How many events were waiting.</param>
    public SynchronousSaveNotSupportedException(int eventCount)
        : base($"SaveChanges() was called with {eventCount} domain event(s) waiting on tracked aggregates. Domain event handlers are asynchronous: " +
               "call SaveChangesAsync() instead. Nothing was saved and the events are still on their aggregates.")
    {
        EventCount = eventCount;
    }

    /// <summary>Gets how many events were waiting.</summary>
    public int EventCount { get; }
}
