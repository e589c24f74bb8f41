namespace DomainEvents;

/// <summary>
/// An event handled once ever per key, however often it is raised: by an aggregate saved again, or by an event source
/// that sees the same state on every save. The first save that raises a key dispatches it (to its in-process handlers
/// and, for an integration event, to the outbox) and records the key in the same transaction; later ones skip it.
/// </summary>
public interface IKeyedEvent : IDomainEvent
{
    /// <summary>Gets the key, unique across the service's events, such as <c>challenge-ended:42</c>: 1 to 200 characters, no control characters.</summary>
    string EventKey { get; }
}
