using MediatR;

namespace DomainEvents.Dispatching;

/// <summary>
/// Publishes an event that is also a MediatR <see cref="INotification"/>: first wrapped, to the handlers of
/// <see cref="DomainEventNotification{TEvent}"/>, then as itself, to the handlers of <typeparamref name="TEvent"/>.
/// A failure in the first set stops the second.
/// </summary>
/// <typeparam name="TEvent">The event type.</typeparam>
internal sealed class NotificationDomainEventPublisher<TEvent> : DomainEventPublisher<TEvent>
    where TEvent : IDomainEvent, INotification
{
    private static readonly Type HandlersType = typeof(IEnumerable<INotificationHandler<TEvent>>);

    /// <inheritdoc />
    /// <remarks>The handlers of <typeparamref name="TEvent"/> are resolved only once the first set has run, so this always says it may run handlers.</remarks>
    public override Task PublishAsync(IDomainEvent domainEvent, IServiceProvider services, bool afterCommit, CancellationToken cancellationToken, out bool mayRunHandlers)
    {
        mayRunHandlers = true;
        return PublishBothAsync((TEvent)domainEvent, services, afterCommit, cancellationToken);
    }

    private async Task PublishBothAsync(TEvent domainEvent, IServiceProvider services, bool afterCommit, CancellationToken cancellationToken)
    {
        await base.PublishAsync(domainEvent, services, afterCommit, cancellationToken, out _).ConfigureAwait(false);
        var handlers = Resolve<TEvent>(services, HandlersType, afterCommit);
        await RunAsync(handlers, domainEvent, cancellationToken).ConfigureAwait(false);
    }
}
