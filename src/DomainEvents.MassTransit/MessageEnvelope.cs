namespace DomainEvents.MassTransit;

/// <summary>How the relay wraps an outbox row on the broker, and which envelopes consumers read.</summary>
public enum MessageEnvelope
{
    /// <summary>
    /// MassTransit's JSON envelope (<c>application/vnd.masstransit+json</c>): the default between .NET services that
    /// use MassTransit.
    /// </summary>
    MassTransit,

    /// <summary>
    /// A plain JSON object (<c>application/json</c>) for consumers that speak neither MassTransit nor CloudEvents:
    /// <c>{"eventId", "eventTime", "eventType", "aggregate", "payload"}</c>.
    /// </summary>
    PlainJson,

    /// <summary>
    /// A CloudEvent 1.0 in structured mode: the whole event, attributes and data, is the JSON body
    /// (<c>application/cloudevents+json</c>).
    /// </summary>
    CloudEventsStructured,

    /// <summary>
    /// A CloudEvent 1.0 in binary mode, per the CloudEvents AMQP binding: the attributes are <c>cloudEvents_</c>
    /// application properties (AMQP headers), the body is the event data and the content type is its
    /// <c>datacontenttype</c>.
    /// </summary>
    CloudEventsBinary,
}
