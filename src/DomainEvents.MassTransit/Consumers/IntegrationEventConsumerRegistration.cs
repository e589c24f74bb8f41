namespace DomainEvents.MassTransit.Consumers;

/// <summary>A consumer added with <c>AddIntegrationEventConsumer</c>, waiting for its endpoint to be configured.</summary>
internal sealed record IntegrationEventConsumerRegistration(Type ConsumerType, IReadOnlyList<Type> MessageTypes, IntegrationEventConsumerOptions Options);
