using MediatR;

namespace DomainEvents.Dispatching;

/// <summary>
/// Publishes events of type <typeparamref name="TEvent"/> wrapped in <see cref="DomainEventNotification{TEvent}"/>
/// to the <c>INotificationHandler&lt;DomainEventNotification&lt;TEvent&gt;&gt;</c> services of a scope.
/// </summary>
/// <typeparam name="TEvent">The event type.</typeparam>
internal class DomainEventPublisher<TEvent> : DomainEventPublisher
    where TEvent : IDomainEvent
{
    private static readonly Type HandlersType = typeof(IEnumerable<INotificationHandler<DomainEventNotification<TEvent>>>);

    /// <inheritdoc />
    /// <remarks>With no handler resolved, nothing is allocated: the wrapper is made only for handlers that take it.</remarks>
    public override Task PublishAsync(IDomainEvent domainEvent, IServiceProvider services, bool afterCommit, CancellationToken cancellationToken, out bool mayRunHandlers)
    {
        var handlers = Resolve<DomainEventNotification<TEvent>>(services, HandlersType, afterCommit);
        mayRunHandlers = handlers.Length > 0;
        return handlers.Length == 0
            ? Task.CompletedTask
            : RunAsync(handlers, new DomainEventNotification<TEvent>((TEvent)domainEvent), cancellationToken);
    }
}
