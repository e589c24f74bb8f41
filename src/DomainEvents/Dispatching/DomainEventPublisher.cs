using System.Diagnostics;
using System.Collections.Concurrent;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Dispatching;

/// <summary>
/// Publishes events of one CLR type to their MediatR notification handlers, resolved from the caller's scope. One
/// instance per event type, made on first use and cached, so a dispatch costs one lookup by type and no reflection.
/// </summary>
/// <remarks>
/// The semantics are those of MediatR 5.1.0's <c>Mediator.Publish</c>: every handler of the notification type is
/// resolved first, then each is awaited in registration order; the first exception ends the publish and the
/// handlers after it do not run. The exception is carried by the returned task, never thrown synchronously.
/// </remarks>
internal abstract class DomainEventPublisher
{
    private static readonly ConcurrentDictionary<Type, DomainEventPublisher> Publishers = new();

    /// <summary>Gets the publisher for events of <paramref name="eventType"/>.</summary>
    /// <param name="eventType">The runtime type of the event.</param>
    /// <returns>The cached publisher.</returns>
    public static DomainEventPublisher For(Type eventType) =>
        Publishers.TryGetValue(eventType, out var publisher) ? publisher : Publishers.GetOrAdd(eventType, Create);

    /// <summary>Runs the handlers of the event.</summary>
    /// <param name="domainEvent">The event, of this publisher's type.</param>
    /// <param name="services">The scope the handlers are resolved from.</param>
    /// <param name="afterCommit">Resolve the handlers registered under <see cref="AfterCommitAttribute.ServiceKey"/> instead of the unkeyed ones.</param>
    /// <param name="cancellationToken">Passed to each handler.</param>
    /// <param name="mayRunHandlers"><see langword="false"/> when no handler was resolved, so no handler code runs.</param>
    /// <returns>A task that completes when every handler has run, or faults with the first handler's exception.</returns>
    public abstract Task PublishAsync(IDomainEvent domainEvent, IServiceProvider services, bool afterCommit, CancellationToken cancellationToken, out bool mayRunHandlers);

    /// <summary>Resolves the handlers of a notification type, in registration order.</summary>
    protected static INotificationHandler<TNotification>[] Resolve<TNotification>(IServiceProvider services, Type handlersType, bool afterCommit)
        where TNotification : INotification
    {
        var resolved = afterCommit
            ? ((IKeyedServiceProvider)services).GetKeyedService(handlersType, AfterCommitAttribute.ServiceKey)
            : services.GetService(handlersType);
        return resolved switch
        {
            INotificationHandler<TNotification>[] array => array,
            IEnumerable<INotificationHandler<TNotification>> handlers => [.. handlers],
            _ => [],
        };
    }

    /// <summary>Awaits each handler in turn; the first failure ends the run.</summary>
    protected static async Task RunAsync<TNotification>(INotificationHandler<TNotification>[] handlers, TNotification notification, CancellationToken cancellationToken)
        where TNotification : INotification
    {
        foreach (var handler in handlers)
        {
            using var activity = Messaging.DomainEventsTracing.Source.StartActivity(ActivityKind.Internal, name: DispatchSpan<TNotification>.Name);
            activity?.SetTag("domainevents.handler", handler.GetType().Name);
            try
            {
                await handler.Handle(notification, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (activity is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error, ex.Message);
                activity.AddException(ex);
                throw;
            }
        }
    }

    /// <summary>The name of a handler's span, worked out once per notification type rather than on every dispatch.</summary>
    private static class DispatchSpan<TNotification>
    {
        public static readonly string Name = "dispatch " + (typeof(TNotification).IsGenericType && typeof(TNotification).GetGenericTypeDefinition() == typeof(DomainEventNotification<>)
            ? typeof(TNotification).GetGenericArguments()[0].Name
            : typeof(TNotification).Name);
    }

    private static DomainEventPublisher Create(Type eventType)
    {
        var definition = typeof(INotification).IsAssignableFrom(eventType)
            ? typeof(NotificationDomainEventPublisher<>)
            : typeof(DomainEventPublisher<>);
        return (DomainEventPublisher)Activator.CreateInstance(definition.MakeGenericType(eventType))!;
    }
}
