using MediatR;

namespace DomainEvents.Dispatching;

/// <summary>
/// Carries a domain event through MediatR, so that events stay plain types with no MediatR dependency.
/// Handle it with <c>INotificationHandler&lt;DomainEventNotification&lt;TEvent&gt;&gt;</c> or derive from
/// <see cref="DomainEventHandler{TEvent}"/>.
/// </summary>
/// <typeparam name="TEvent">The event type.</typeparam>
public sealed class DomainEventNotification<TEvent> : INotification
    where TEvent : IDomainEvent
{
    /// <summary>Initializes a new notification for <paramref name="domainEvent"/>.</summary>
    /// <param name="domainEvent">The event.</param>
    public DomainEventNotification(TEvent domainEvent)
    {
        DomainEvent = domainEvent;
    }

    /// <summary>Gets the event.</summary>
    public TEvent DomainEvent { get; }
}
