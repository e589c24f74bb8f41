namespace DomainEvents.MassTransit;

/// <summary>The names the CloudEvents AMQP binding uses on a RabbitMQ message.</summary>
internal static class CloudEventsAmqp
{
    /// <summary>The prefix of an attribute in binary mode: <c>cloudEvents_type</c>, <c>cloudEvents_id</c>, ...</summary>
    public const string Prefix = "cloudEvents_";

    /// <summary>The prefix of earlier drafts of the binding, still read.</summary>
    public const string LegacyPrefix = "cloudEvents:";

    /// <summary>The media type of an event in structured mode.</summary>
    public const string StructuredMediaType = "application/cloudevents+json";
}
