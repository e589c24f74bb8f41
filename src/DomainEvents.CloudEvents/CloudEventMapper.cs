using System.Globalization;
using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.Extensions;
using CloudNative.CloudEvents.SystemTextJson;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.Messaging;

namespace DomainEvents.CloudEvents;

/// <summary>
/// Turns an outbox row into a CloudEvent 1.0, the same way for every binding (HTTP, AMQP):
/// <list type="bullet">
/// <item><c>id</c> = message id; <c>source</c> = configured; <c>type</c> = message type, with <c>.v{version}</c> when configured;</item>
/// <item><c>subject</c> = partition key (aggregate type/id); <c>time</c> = when the event was saved; <c>datacontenttype</c> = application/json;</item>
/// <item><c>data</c> = the payload JSON; extensions <c>partitionkey</c>, <c>version</c> (integer), <c>correlationid</c>,
/// <c>causationid</c>, and <c>traceparent</c>/<c>tracestate</c> (the distributed tracing extension) when they were stored;
/// the headers of header enrichers as extensions of the same names.</item>
/// </list>
/// </summary>
public sealed class CloudEventMapper
{
    /// <summary>The data content type of every event.</summary>
    public const string DataContentType = "application/json";

    /// <summary>The CloudEvents spec version of every event.</summary>
    public const string SpecVersion = "1.0";

    /// <summary>Initializes the mapper with the source resolved from the options (explicit, environment, or default).</summary>
    /// <param name="options">The options.</param>
    public CloudEventMapper(CloudEventsOptions options)
        : this(options.ResolveSource(), options.TypeIncludesVersion)
    {
    }

    /// <summary>Initializes the mapper.</summary>
    /// <param name="source">The source attribute of every event.</param>
    /// <param name="typeIncludesVersion">Whether the type ends with <c>.v{version}</c>.</param>
    public CloudEventMapper(Uri source, bool typeIncludesVersion)
    {
        ArgumentNullException.ThrowIfNull(source);
        Source = source;
        TypeIncludesVersion = typeIncludesVersion;
    }

    /// <summary>Gets the <c>partitionkey</c> extension (the SDK's partitioning extension): rows with the same key keep their order.</summary>
    public static CloudEventAttribute PartitionKeyAttribute => Partitioning.PartitionKeyAttribute;

    /// <summary>Gets the <c>version</c> extension: the schema version, an integer.</summary>
    public static CloudEventAttribute VersionAttribute { get; } = CloudEventAttribute.CreateExtension("version", CloudEventAttributeType.Integer);

    /// <summary>Gets the <c>traceparent</c> extension of the distributed tracing extension.</summary>
    public static CloudEventAttribute TraceParentAttribute { get; } = CloudEventAttribute.CreateExtension("traceparent", CloudEventAttributeType.String);

    /// <summary>Gets the <c>tracestate</c> extension of the distributed tracing extension.</summary>
    public static CloudEventAttribute TraceStateAttribute { get; } = CloudEventAttribute.CreateExtension("tracestate", CloudEventAttributeType.String);

    /// <summary>Gets the <c>correlationid</c> extension: the conversation the event belongs to.</summary>
    public static CloudEventAttribute CorrelationIdAttribute { get; } = CloudEventAttribute.CreateExtension("correlationid", CloudEventAttributeType.String);

    /// <summary>Gets the <c>causationid</c> extension: the message whose handling raised the event.</summary>
    public static CloudEventAttribute CausationIdAttribute { get; } = CloudEventAttribute.CreateExtension("causationid", CloudEventAttributeType.String);

    /// <summary>Gets every extension attribute the mapper writes, for readers that want them typed.</summary>
    public static IReadOnlyList<CloudEventAttribute> ExtensionAttributes { get; } =
        [PartitionKeyAttribute, VersionAttribute, TraceParentAttribute, TraceStateAttribute, CorrelationIdAttribute, CausationIdAttribute];

    /// <summary>Gets the source attribute of every event.</summary>
    public Uri Source { get; }

    /// <summary>Gets whether the type ends with <c>.v{version}</c>.</summary>
    public bool TypeIncludesVersion { get; }

    /// <summary>Gets the JSON event formatter used for both content modes.</summary>
    public CloudEventFormatter Formatter { get; } = new JsonEventFormatter();

    /// <summary>Gets the CloudEvent type of a row.</summary>
    /// <param name="envelope">The outbox row.</param>
    /// <returns>The message type, with the version suffix when configured.</returns>
    public string TypeOf(OutboxEnvelope envelope) =>
        TypeIncludesVersion ? string.Create(CultureInfo.InvariantCulture, $"{envelope.MessageType}.v{envelope.Version}") : envelope.MessageType;

    /// <summary>Builds the CloudEvent of a row.</summary>
    /// <param name="envelope">The outbox row.</param>
    /// <returns>A CloudEvent that passes the SDK's validation.</returns>
    /// <exception cref="PermanentDeliveryException">The payload is not JSON; retrying cannot help.</exception>
    public CloudEvent ToCloudEvent(OutboxEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var cloudEvent = new CloudEvent(CloudEventsSpecVersion.V1_0, ExtensionAttributes)
        {
            Id = envelope.MessageId.ToString(),
            Source = Source,
            Type = TypeOf(envelope),
            Subject = envelope.PartitionKey,
            Time = new DateTimeOffset(DateTime.SpecifyKind(envelope.OccurredAt, DateTimeKind.Utc)),
            DataContentType = DataContentType,
            Data = ParsePayload(envelope),
        };
        cloudEvent.SetPartitionKey(envelope.PartitionKey);
        cloudEvent[VersionAttribute] = envelope.Version;
        var headers = StoredHeaders.Parse(envelope.Headers);

        // While the relay publishes with tracing on, its publish span is the receiver's parent; otherwise the saving
        // transaction's stored context is.
        var publishing = DomainEventsTracing.CurrentPublish;
        Set(cloudEvent, TraceParentAttribute, publishing?.Id ?? headers.TraceParent);
        Set(cloudEvent, TraceStateAttribute, publishing is null ? headers.TraceState : publishing.TraceStateString);
        Set(cloudEvent, CorrelationIdAttribute, headers.CorrelationId?.ToString());
        Set(cloudEvent, CausationIdAttribute, headers.CausationId?.ToString());
        if (headers.Custom is { } custom)
        {
            // Header enrichers' names are valid extension names by construction.
            foreach (var (name, value) in custom)
            {
                cloudEvent[name] = value;
            }
        }

        return cloudEvent.Validate();
    }

    /// <summary>Encodes a row in structured content mode: the whole event as one <c>application/cloudevents+json</c> document.</summary>
    /// <param name="envelope">The outbox row.</param>
    /// <param name="contentType">The content type of the message, <c>application/cloudevents+json; charset=utf-8</c>.</param>
    /// <returns>The message body.</returns>
    public ReadOnlyMemory<byte> EncodeStructuredMode(OutboxEnvelope envelope, out ContentType contentType) =>
        Formatter.EncodeStructuredModeMessage(ToCloudEvent(envelope), out contentType);

    /// <summary>Encodes a row in binary content mode: the data as the body, the attributes beside it.</summary>
    /// <param name="envelope">The outbox row.</param>
    /// <returns>The body, its content type and the attributes as strings.</returns>
    public CloudEventBinaryMessage EncodeBinaryMode(OutboxEnvelope envelope)
    {
        var cloudEvent = ToCloudEvent(envelope);
        var attributes = new List<KeyValuePair<string, string>>
        {
            new(CloudEventsSpecVersion.SpecVersionAttribute.Name, cloudEvent.SpecVersion.VersionId),
        };
        foreach (var (attribute, value) in cloudEvent.GetPopulatedAttributes())
        {
            if (attribute != cloudEvent.SpecVersion.DataContentTypeAttribute)
            {
                attributes.Add(new(attribute.Name, attribute.Format(value)));
            }
        }

        return new CloudEventBinaryMessage(Formatter.EncodeBinaryModeEventData(cloudEvent), DataContentType, attributes);
    }

    private static JsonElement ParsePayload(OutboxEnvelope envelope)
    {
        try
        {
            using var document = JsonDocument.Parse(envelope.Payload);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new PermanentDeliveryException(
                $"The payload of {envelope.MessageType} {envelope.MessageId} is not valid JSON, so it cannot be the data of a CloudEvent: {ex.Message}", ex);
        }
    }

    private static void Set(CloudEvent cloudEvent, CloudEventAttribute attribute, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            cloudEvent[attribute] = value;
        }
    }
}
