namespace DomainEvents.MassTransit.Consumers;

/// <summary>A consumer added with <c>AddIntegrationEventConsumer</c> or <c>AddIntegrationEventHandler</c>, waiting for its endpoint to be configured.</summary>
/// <param name="Name">The consumer's class name, or the handler's name: its key under <c>DomainEvents:Consumers</c>.</param>
/// <param name="ConsumerType">The MassTransit consumer.</param>
/// <param name="MessageTypes">The integration event types it consumes.</param>
/// <param name="Options">Its bindings and settings, configuration and code applied.</param>
/// <param name="Configured">Whether a configuration section was there to be read when it was added.</param>
internal sealed record IntegrationEventConsumerRegistration(string Name, Type ConsumerType, IReadOnlyList<Type> MessageTypes, IntegrationEventConsumerOptions Options, bool Configured)
{
    /// <summary>Gets the handler of a consumer added as a delegate, which its endpoint's consumer calls.</summary>
    public Func<global::MassTransit.ConsumeContext, Task>? Handler { get; init; }

    /// <summary>Gets whether every message type that the bindings bring is handed over as JSON (<see cref="IntegrationEventJson"/>).</summary>
    public bool TakesAnyType => MessageTypes.Count == 1 && MessageTypes[0] == typeof(IntegrationEventJson);

    /// <summary>Gets the name the inbox records: the configured one, or a consumer class's full name, or a handler's name.</summary>
    public string InboxName => Options.InboxName ?? (Handler is null ? ConsumerType.FullName! : Name);

    /// <summary>Gets the queue: the configured name, or for a consumer class its name in kebab-case, for a handler its name.</summary>
    public string Queue => Options.QueueName ?? (Handler is null ? global::MassTransit.IntegrationEventConsumerRegistrationExtensions.DefaultQueueName(ConsumerType) : Name);
}
