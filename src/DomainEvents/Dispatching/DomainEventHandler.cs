using MediatR;

namespace DomainEvents.Dispatching;

/// <summary>
/// A thin base class for in-process handlers of one event type. It is a plain MediatR notification
/// handler, so everything MediatR offers applies.
/// </summary>
/// <typeparam name="TEvent">The event type.</typeparam>
public abstract class DomainEventHandler<TEvent> : INotificationHandler<DomainEventNotification<TEvent>>
    where TEvent : IDomainEvent
{
    /// <inheritdoc />
    public Task Handle(DomainEventNotification<TEvent> notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        return Handle(notification.DomainEvent, cancellationToken);
    }

    /// <summary>Handles the event.</summary>
    /// <param name="domainEvent">The event.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>A task that completes when the event is handled.</returns>
    protected abstract Task Handle(TEvent domainEvent, CancellationToken cancellationToken);
}
