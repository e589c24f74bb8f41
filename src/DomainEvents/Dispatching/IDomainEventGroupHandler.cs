namespace DomainEvents.Dispatching;

/// <summary>
/// Handles every event whose group matches the pattern it was registered with (<c>AddGroupHandler&lt;T&gt;("challenge.*")</c>),
/// whatever its type: for an audit trail, a notification feed or a projection that follows a family of events. It runs in
/// the unit of work after the event's handlers by type, resolved from the same scope, and a keyed event reaches it once
/// ever per key like them.
/// </summary>
public interface IDomainEventGroupHandler
{
    /// <summary>Handles one event.</summary>
    /// <param name="domainEvent">The event.</param>
    /// <param name="group">The event's group (see <see cref="IGroupedEvent"/>).</param>
    /// <param name="cancellationToken">The save's token.</param>
    /// <returns>A task that completes when the event is handled.</returns>
    Task HandleAsync(IDomainEvent domainEvent, string group, CancellationToken cancellationToken);
}
