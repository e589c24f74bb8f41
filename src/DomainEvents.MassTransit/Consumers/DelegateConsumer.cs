using global::MassTransit;
using global::MassTransit.Transports;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The consumer of the handlers added with <c>AddIntegrationEventHandler</c>: one class per event type, configured on
/// each handler's endpoint, calling the handler of the endpoint the message arrived on.
/// </summary>
/// <typeparam name="TEvent">The event type, or <see cref="IntegrationEventJson"/>.</typeparam>
[ExcludeFromConfigureEndpoints]
internal sealed class DelegateConsumer<TEvent>(DelegateHandlers handlers) : IConsumer<TEvent>
    where TEvent : class
{
    public Task Consume(ConsumeContext<TEvent> context) => handlers.For(context.ReceiveContext.InputAddress.GetEndpointName())(context);
}

/// <summary>The handlers added with <c>AddIntegrationEventHandler</c>, by the queue of each.</summary>
internal sealed class DelegateHandlers(IEnumerable<IntegrationEventConsumerRegistration> registrations)
{
    private readonly Dictionary<string, Func<ConsumeContext, Task>> _byQueue = registrations
        .Where(r => r.Handler is not null)
        .DistinctBy(r => r.Queue, StringComparer.Ordinal)
        .ToDictionary(r => r.Queue, r => r.Handler!, StringComparer.Ordinal);

    public Func<ConsumeContext, Task> For(string? queue) =>
        queue is not null && _byQueue.TryGetValue(queue, out var handler)
            ? handler
            : throw new InvalidOperationException($"No integration event handler listens on '{queue}'.");
}
