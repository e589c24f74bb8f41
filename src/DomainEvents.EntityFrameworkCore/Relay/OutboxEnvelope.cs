namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>One claimed outbox row, as the relay hands it to a transport.</summary>
/// <param name="Id">The outbox sequence number.</param>
/// <param name="MessageId">The message id (UUIDv7).</param>
/// <param name="MessageType">The stable message type name.</param>
/// <param name="Version">The schema version.</param>
/// <param name="Exchange">The exchange to publish to.</param>
/// <param name="RoutingKey">The routing key.</param>
/// <param name="PartitionKey">The partition key; rows with the same key are published in order.</param>
/// <param name="Payload">The event as JSON.</param>
/// <param name="Headers">The stored headers as a JSON object (correlation id, causation id, trace context).</param>
/// <param name="OccurredAt">When the event was saved (UTC).</param>
/// <param name="Attempts">How many earlier attempts failed.</param>
public sealed record OutboxEnvelope(
    long Id,
    Guid MessageId,
    string MessageType,
    int Version,
    string Exchange,
    string RoutingKey,
    string PartitionKey,
    string Payload,
    string Headers,
    DateTime OccurredAt,
    int Attempts);
