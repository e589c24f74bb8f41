namespace DomainEvents.MassTransit.Consumers;

/// <summary>What a consumer can know about an integration event beyond its payload.</summary>
/// <param name="MessageId">The message id (the outbox row's UUIDv7).</param>
/// <param name="MessageType">The stable message type name.</param>
/// <param name="Version">The version that was sent (before any upcasting).</param>
/// <param name="Exchange">The exchange it was published to.</param>
/// <param name="RoutingKey">The routing key it was published with.</param>
/// <param name="PartitionKey">The partition key (default: aggregate type and id).</param>
/// <param name="OccurredAt">When the producing transaction saved it (UTC).</param>
/// <param name="CorrelationId">The correlation id of the conversation.</param>
/// <param name="CausationId">The message whose handling raised it, if any.</param>
public sealed record IntegrationEventEnvelope(
    Guid MessageId,
    string MessageType,
    int Version,
    string? Exchange,
    string? RoutingKey,
    string? PartitionKey,
    DateTime? OccurredAt,
    Guid? CorrelationId,
    Guid? CausationId);
