namespace DomainEvents.MassTransit;

/// <summary>The transport headers the relay writes on every message, so any consumer can route and check it.</summary>
public static class IntegrationEventHeaders
{
    /// <summary>The stable message type name, such as <c>order.placed</c>.</summary>
    public const string MessageType = "de-message-type";

    /// <summary>The schema version of the payload.</summary>
    public const string Version = "de-version";

    /// <summary>The exchange the message was published to.</summary>
    public const string Exchange = "de-exchange";

    /// <summary>The routing key the message was published with.</summary>
    public const string RoutingKey = "de-routing-key";

    /// <summary>The partition key; messages with the same key were published in order.</summary>
    public const string PartitionKey = "de-partition-key";

    /// <summary>When the event was saved, ISO 8601 UTC.</summary>
    public const string OccurredAt = "de-occurred-at";

    /// <summary>The correlation id of the conversation.</summary>
    public const string CorrelationId = "de-correlation-id";

    /// <summary>The id of the message whose handling raised this one.</summary>
    public const string CausationId = "de-causation-id";

    /// <summary>
    /// The envelope the relay wrapped the message in: <c>masstransit</c>, <c>plain-json</c>, <c>cloudevents-structured</c>
    /// or <c>cloudevents-binary</c>. Consumers tell envelopes apart by content type and shape; this header settles
    /// the one case those leave open, an <c>application/json</c> body that is the bare payload or the plain envelope.
    /// </summary>
    public const string Envelope = "de-envelope";

    /// <summary>On a message in an error queue: why it was moved there.</summary>
    public const string ErrorReason = "de-error-reason";

    /// <summary>The W3C trace context of the transaction that saved the event.</summary>
    public const string TraceParent = "traceparent";

    /// <summary>The W3C trace state.</summary>
    public const string TraceState = "tracestate";

    /// <summary>The W3C baggage.</summary>
    public const string Baggage = "baggage";
}
