namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// One integration event waiting in the outbox table, written in the same transaction as the aggregate
/// that raised it. The relay publishes it and records the outcome.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>Gets or sets the database sequence number; it orders rows of one partition key.</summary>
    public long Id { get; set; }

    /// <summary>Gets or sets the message id (UUIDv7): the broker's message id and the consumer inbox key.</summary>
    public Guid MessageId { get; set; }

    /// <summary>Gets or sets the stable message type name, such as <c>order.placed</c>.</summary>
    public string MessageType { get; set; } = "";

    /// <summary>Gets or sets the schema version of the payload.</summary>
    public int Version { get; set; }

    /// <summary>Gets or sets the exchange to publish to.</summary>
    public string Exchange { get; set; } = "";

    /// <summary>Gets or sets the routing key to publish with.</summary>
    public string RoutingKey { get; set; } = "";

    /// <summary>Gets or sets the partition key; rows with the same key are published in order (default: aggregate type and id).</summary>
    public string PartitionKey { get; set; } = "";

    /// <summary>Gets or sets the event serialized as JSON.</summary>
    public string Payload { get; set; } = "";

    /// <summary>Gets or sets the headers as a JSON object: correlation id, causation id and trace context.</summary>
    public string Headers { get; set; } = "{}";

    /// <summary>Gets or sets when the event was saved (UTC).</summary>
    public DateTime OccurredAt { get; set; }

    /// <summary>Gets or sets where the row is in its life.</summary>
    public OutboxMessageStatus Status { get; set; }

    /// <summary>Gets or sets how many publish attempts have failed.</summary>
    public int Attempts { get; set; }

    /// <summary>Gets or sets the earliest time of the next attempt (UTC).</summary>
    public DateTime NextAttemptAt { get; set; }

    /// <summary>Gets or sets the error of the last failed attempt.</summary>
    public string? LastError { get; set; }

    /// <summary>Gets or sets when the broker confirmed the message (UTC).</summary>
    public DateTime? ProcessedAt { get; set; }

    /// <summary>Gets or sets the relay instance that holds the row's lease.</summary>
    public string? LeaseOwner { get; set; }

    /// <summary>Gets or sets when the lease runs out (UTC); another relay may take the row after that.</summary>
    public DateTime? LeaseExpiresAt { get; set; }
}
