namespace DomainEvents.MassTransit.Consumers;

/// <summary>What a consumer can know about an integration event beyond its payload, whatever envelope it arrived in.</summary>
/// <param name="MessageId">
/// The message id (the outbox row's UUIDv7): the envelope's own id (MassTransit <c>messageId</c>, plain JSON <c>eventId</c>,
/// CloudEvents <c>id</c>), else the AMQP message-id. An id that is not a UUID is turned into a name-based UUID (v5) of the
/// CloudEvents source and id, so the inbox works for any publisher.
/// </param>
/// <param name="MessageType">The stable message type name, without a version suffix.</param>
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
    Guid? CausationId)
{
    /// <summary>Gets the envelope the message arrived in (default <see cref="MessageEnvelope.MassTransit"/>).</summary>
    public MessageEnvelope Envelope { get; init; }

    /// <summary>Gets the CloudEvents <c>source</c>, for a message that arrived as a CloudEvent.</summary>
    public string? Source { get; init; }

    /// <summary>Gets the CloudEvents <c>subject</c>, for a message that arrived as a CloudEvent.</summary>
    public string? Subject { get; init; }

    /// <summary>
    /// Gets the headers the producer's header enrichers set (a tenant, a user, a request id), from whichever envelope the
    /// message arrived in: message headers, or CloudEvents extension attributes of the same names. Empty when there are none.
    /// </summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = EmptyHeaders;

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();

    /// <summary>
    /// The inbox's key: the message id, except for a CloudEvent, whose id is unique only within its <c>source</c>: there it
    /// is a name-based UUID of source and id, even when the id looks like a UUID.
    /// </summary>
    internal Guid InboxKey { get; init; }
}
