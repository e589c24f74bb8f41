using System.Globalization;
using System.Net.Mime;
using System.Text.Json;
using System.Text.Json.Nodes;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using DomainEvents.CloudEvents;
using DomainEvents.EntityFrameworkCore.Outbox;
using global::MassTransit;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Works out (message type, version, message id, payload) from a received message in any of the four envelopes:
/// <list type="table">
/// <item><term><c>application/cloudevents+json</c></term><description>CloudEvents structured mode: the SDK decodes the body.</description></item>
/// <item><term>a <c>cloudEvents_type</c> header</term><description>CloudEvents binary mode (AMQP binding): attributes from the headers, data from the body.</description></item>
/// <item><term><c>application/json</c> (or no content type)</term><description>the plain envelope (<c>eventType</c> and <c>payload</c>, or
/// <c>de-envelope: plain-json</c>), else the bare payload named by the <c>de-message-type</c> header.</description></item>
/// <item><term><c>application/vnd.masstransit+json</c> with a <c>de-message-type</c> header</term><description>MassTransit's envelope.</description></item>
/// </list>
/// Anything else is not an integration event message (<see langword="null"/>): MassTransit matches it by its message
/// type URN, or it goes to the error queue as unknown.
/// </summary>
internal static class IncomingMessageReader
{
    private static readonly JsonEventFormatter Formatter = new();

    /// <exception cref="MessageEnvelopeInvalidException">The message is in a known envelope that cannot be read.</exception>
    /// <exception cref="global::DomainEvents.Errors.MessageBodyInvalidException">A body named by the headers is not JSON.</exception>
    public static IncomingMessage? Read(ConsumeContext context)
    {
        var receive = context.ReceiveContext;
        var mediaType = receive.ContentType?.MediaType;
        if (string.Equals(mediaType, CloudEventsAmqp.StructuredMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return ReadCloudEvent(context, MessageEnvelope.CloudEventsStructured, () =>
                Formatter.DecodeStructuredModeMessage(receive.Body.GetBytes(), receive.ContentType, CloudEventMapper.ExtensionAttributes));
        }

        if (BinaryAttribute(context, "type") is not null)
        {
            return ReadCloudEvent(context, MessageEnvelope.CloudEventsBinary, () => DecodeBinary(context));
        }

        var headerType = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.MessageType);
        var declaredPlain = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.Envelope) == MessageEnvelopeNames.PlainJson;
        if (mediaType is null || string.Equals(mediaType, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            JsonNode? body;
            try
            {
                body = JsonNode.Parse(receive.Body.GetBytes());
            }
            catch (JsonException ex)
            {
                if (headerType is not null)
                {
                    throw new Errors.MessageBodyInvalidException(headerType, HeaderVersion(context) ?? 1, ex);
                }

                if (declaredPlain)
                {
                    throw new MessageEnvelopeInvalidException(MessageEnvelopeNames.PlainJson, "the body is not JSON", ex);
                }

                return null;
            }

            if (declaredPlain || IsPlainEnvelope(body))
            {
                return ReadPlain(context, body, headerType);
            }

            if (headerType is null)
            {
                return null;
            }

            // The bare payload, named by the headers. Without a content type a MassTransit envelope may reach the raw
            // JSON deserializer (the endpoint's default); then take its message.
            var massTransit = mediaType is null && body is JsonObject o && o["messageType"] is JsonArray && o.ContainsKey("message");
            return FromHeaders(context, headerType, massTransit ? MessageEnvelope.MassTransit : MessageEnvelope.PlainJson, () =>
                (massTransit ? body!["message"] : body) ?? throw new JsonException("The payload is JSON null."));
        }

        if (headerType is null)
        {
            return null;
        }

        return FromHeaders(context, headerType, MessageEnvelope.MassTransit, () =>
        {
            var root = JsonNode.Parse(receive.Body.GetBytes()) ?? throw new JsonException("The body is JSON null.");
            return root["message"] ?? throw new JsonException("The MassTransit envelope has no 'message'.");
        });
    }

    /// <summary>A JSON object with a string <c>eventType</c> and a <c>payload</c>: the plain envelope.</summary>
    private static bool IsPlainEnvelope(JsonNode? body) =>
        body is JsonObject o && o["eventType"] is JsonValue type && type.GetValueKind() == JsonValueKind.String && o.ContainsKey("payload");

    private static IncomingMessage FromHeaders(ConsumeContext context, string messageType, MessageEnvelope envelope, Func<JsonNode> payload) =>
        new()
        {
            Envelope = envelope,
            TypeName = messageType,
            Version = HeaderVersion(context) ?? 1,
            MessageId = context.MessageId,
            ReadPayload = payload,
            Exchange = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.Exchange) ?? TransportExchange(context),
            RoutingKey = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.RoutingKey) ?? TransportRoutingKey(context),
            PartitionKey = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.PartitionKey),
            OccurredAt = ParseTime(IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.OccurredAt)),
            CorrelationId = ParseGuid(IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.CorrelationId)) ?? context.ConversationId,
            CausationId = ParseGuid(IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.CausationId)) ?? context.InitiatorId,
            Headers = EnricherHeaders(context),
        };

    /// <summary>The message headers whose names an enricher could have set (a transport's own, MT-… or x-…, never qualify).</summary>
    private static Dictionary<string, string>? EnricherHeaders(ConsumeContext context)
    {
        Dictionary<string, string>? headers = null;
        foreach (var (name, value) in context.ReceiveContext.TransportHeaders.GetAll())
        {
            if (OutboxHeaderRules.IsCustomName(name) && IntegrationEventReceiveFilter.TextOf(value) is { } text)
            {
                (headers ??= new(StringComparer.Ordinal))[name] = text;
            }
        }

        return headers;
    }

    /// <summary>The extension attributes of a CloudEvent whose names an enricher could have set.</summary>
    private static Dictionary<string, string>? EnricherHeaders(CloudEvent cloudEvent)
    {
        Dictionary<string, string>? headers = null;
        foreach (var (attribute, value) in cloudEvent.GetPopulatedAttributes())
        {
            if (attribute.IsExtension && OutboxHeaderRules.IsCustomName(attribute.Name) && value is string text)
            {
                (headers ??= new(StringComparer.Ordinal))[attribute.Name] = text;
            }
        }

        return headers;
    }

    private static IncomingMessage ReadPlain(ConsumeContext context, JsonNode? body, string? headerType)
    {
        const string name = MessageEnvelopeNames.PlainJson;
        if (body is not JsonObject envelope)
        {
            throw new MessageEnvelopeInvalidException(name, "the body is not a JSON object");
        }

        var eventType = StringOf(envelope, "eventType", name);
        var typeName = headerType ?? eventType ?? throw new MessageEnvelopeInvalidException(name, "it has no eventType");
        if (!envelope.TryGetPropertyValue("payload", out var payload) || payload is null)
        {
            throw new MessageEnvelopeInvalidException(name, "it has no payload");
        }

        var eventId = StringOf(envelope, "eventId", name);
        var messageId = MessageIds.From(eventId) ?? context.MessageId
            ?? throw new MessageEnvelopeInvalidException(name, "it has no eventId and the AMQP message has no message-id");
        var eventTime = StringOf(envelope, "eventTime", name);
        DateTime? occurredAt = eventTime is null ? null : ParseTime(eventTime) ?? throw new MessageEnvelopeInvalidException(name, $"eventTime '{eventTime}' is not an ISO 8601 time");
        var fromHeaders = FromHeaders(context, typeName, MessageEnvelope.PlainJson, () => payload);
        return new IncomingMessage
        {
            Envelope = MessageEnvelope.PlainJson,
            TypeName = typeName,
            Version = HeaderVersion(context),
            MessageId = messageId,
            ReadPayload = () => payload,
            Exchange = fromHeaders.Exchange,
            RoutingKey = fromHeaders.RoutingKey,
            PartitionKey = fromHeaders.PartitionKey,
            OccurredAt = occurredAt ?? fromHeaders.OccurredAt,
            CorrelationId = fromHeaders.CorrelationId,
            CausationId = fromHeaders.CausationId,
            Headers = fromHeaders.Headers,
        };
    }

    private static IncomingMessage ReadCloudEvent(ConsumeContext context, MessageEnvelope kind, Func<CloudEvent> decode)
    {
        var name = MessageEnvelopeNames.NameOf(kind);
        CloudEvent cloudEvent;
        try
        {
            cloudEvent = decode().Validate();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException or FormatException)
        {
            throw new MessageEnvelopeInvalidException(name, ex.Message, ex);
        }

        var data = cloudEvent.Data switch
        {
            JsonElement element => JsonNode.Parse(element.GetRawText()),
            null => throw new MessageEnvelopeInvalidException(name, "it has no data"),
            _ => throw new MessageEnvelopeInvalidException(name, $"its data is not JSON (datacontenttype '{cloudEvent.DataContentType}')"),
        };
        int? version = cloudEvent[CloudEventMapper.VersionAttribute] switch
        {
            int v => v >= 1 ? v : IncomingMessage.InvalidVersion,
            _ => HeaderVersion(context),
        };
        var source = cloudEvent.Source?.OriginalString;
        return new IncomingMessage
        {
            Envelope = kind,
            TypeName = cloudEvent.Type!,
            Version = version,
            MessageId = MessageIds.From(cloudEvent.Id, source),
            InboxKey = MessageIds.FromSourceAndId(source, cloudEvent.Id),
            ReadPayload = () => data ?? throw new JsonException("The data is JSON null."),
            Exchange = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.Exchange) ?? TransportExchange(context),
            RoutingKey = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.RoutingKey) ?? TransportRoutingKey(context),
            PartitionKey = cloudEvent[CloudEventMapper.PartitionKeyAttribute] as string ?? IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.PartitionKey),
            OccurredAt = cloudEvent.Time?.UtcDateTime,
            CorrelationId = ParseGuid(cloudEvent[CloudEventMapper.CorrelationIdAttribute] as string) ?? ParseGuid(IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.CorrelationId)),
            CausationId = ParseGuid(cloudEvent[CloudEventMapper.CausationIdAttribute] as string) ?? ParseGuid(IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.CausationId)),
            Source = source,
            Subject = cloudEvent.Subject,
            Headers = EnricherHeaders(cloudEvent),
        };
    }

    /// <summary>Builds the event from <c>cloudEvents_</c> headers (or the older <c>cloudEvents:</c>) and the body, as the SDK's own bindings do.</summary>
    private static CloudEvent DecodeBinary(ConsumeContext context)
    {
        var specVersionText = BinaryAttribute(context, "specversion") ?? throw new ArgumentException("It has no cloudEvents_specversion header.");
        var specVersion = CloudEventsSpecVersion.FromVersionId(specVersionText)
                          ?? throw new ArgumentException($"Spec version '{specVersionText}' is not supported; 1.0 is.");
        var cloudEvent = new CloudEvent(specVersion, CloudEventMapper.ExtensionAttributes);
        foreach (var (header, value) in context.ReceiveContext.TransportHeaders.GetAll())
        {
            var attribute = AttributeName(header);
            if (attribute is null or "specversion" or "datacontenttype")
            {
                continue;
            }

            cloudEvent.SetAttributeFromString(attribute, IntegrationEventReceiveFilter.TextOf(value) ?? "");
        }

        var contentType = context.ReceiveContext.ContentType;
        cloudEvent.DataContentType = contentType?.ToString() ?? BinaryAttribute(context, "datacontenttype");
        Formatter.DecodeBinaryModeEventData(context.ReceiveContext.Body.GetBytes(), cloudEvent);
        return cloudEvent;
    }

    private static string? AttributeName(string header)
    {
        if (header.StartsWith(CloudEventsAmqp.Prefix, StringComparison.Ordinal))
        {
            return header[CloudEventsAmqp.Prefix.Length..];
        }

        return header.StartsWith(CloudEventsAmqp.LegacyPrefix, StringComparison.Ordinal) ? header[CloudEventsAmqp.LegacyPrefix.Length..] : null;
    }

    private static string? BinaryAttribute(ConsumeContext context, string attribute) =>
        IntegrationEventReceiveFilter.Header(context, CloudEventsAmqp.Prefix + attribute)
        ?? IntegrationEventReceiveFilter.Header(context, CloudEventsAmqp.LegacyPrefix + attribute);

    private static int? HeaderVersion(ConsumeContext context)
    {
        var text = IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.Version);
        if (text is null)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var version) && version >= 1 ? version : IncomingMessage.InvalidVersion;
    }

    private static string? StringOf(JsonObject envelope, string property, string name)
    {
        if (!envelope.TryGetPropertyValue(property, out var node) || node is null)
        {
            return null;
        }

        return node is JsonValue value && value.TryGetValue<string>(out var text)
            ? text
            : throw new MessageEnvelopeInvalidException(name, $"{property} is not a string");
    }

    private static string? TransportExchange(ConsumeContext context) =>
        context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit) && !string.IsNullOrEmpty(rabbit.Exchange) ? rabbit.Exchange : null;

    private static string? TransportRoutingKey(ConsumeContext context)
    {
        var key = context.RoutingKey();
        return string.IsNullOrEmpty(key) ? null : key;
    }

    private static DateTime? ParseTime(string? text) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at) ? at : null;

    private static Guid? ParseGuid(string? text) => Guid.TryParse(text, out var guid) ? guid : null;
}
