using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Mime;
using System.Text;
using DomainEvents.CloudEvents;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.Messaging;
using global::MassTransit;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Turns an outbox row into the message the relay sends: the routing key (with the version where configured), the
/// envelope chosen for its message type or exchange, and the headers every envelope carries. The stored payload is
/// never deserialized: each envelope copies its bytes.
/// </summary>
internal sealed class OutgoingMessageWriter
{
    private static readonly ContentType MassTransitContentType = new(MassTransitEnvelopeWriter.ContentType);
    private static readonly ContentType PlainJsonContentType = new(PlainJsonEnvelopeWriter.ContentType);

    private readonly MassTransitRelayOptions _options;
    private readonly MessageTypeRegistry _registry;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string, int), string[]> _messageTypes = new();
    private readonly Lazy<CloudEventMapper> _cloudEvents;

    /// <exception cref="InvalidEventSourceException">A CloudEvents envelope is configured and the source variable holds no URI.</exception>
    public OutgoingMessageWriter(MassTransitRelayOptions options, MessageTypeRegistry registry, TimeProvider time)
    {
        _options = options;
        _registry = registry;
        _time = time;
        _cloudEvents = new Lazy<CloudEventMapper>(() => new CloudEventMapper(options.CloudEvents));
        if (options.UsesCloudEvents)
        {
            // Resolve the source now, so a bad K_SOURCE stops the relay at start rather than failing every row.
            _ = _cloudEvents.Value;
        }
    }

    public OutgoingMessage Write(OutboxEnvelope row, StoredHeaders stored, string destination)
    {
        var versioned = _options.RoutingKeyIncludesVersion(row.MessageType, row.Exchange);
        var routed = versioned ? row with { RoutingKey = WithVersion(row.RoutingKey, row.Version) } : row;
        var envelope = _options.EnvelopeOf(row.MessageType, row.Exchange);
        var headers = new List<KeyValuePair<string, string>>(16);
        ContentType contentType;
        byte[] body;
        switch (envelope)
        {
            case MessageEnvelope.MassTransit:
                contentType = MassTransitContentType;
                body = MassTransitEnvelopeWriter.Write(routed, MessageTypesOf(row.MessageType, row.Version), destination, stored, _time.GetUtcNow().UtcDateTime);
                break;
            case MessageEnvelope.PlainJson:
                contentType = PlainJsonContentType;
                body = PlainJsonEnvelopeWriter.Write(routed, versioned ? WithVersion(row.MessageType, row.Version) : row.MessageType);
                break;
            case MessageEnvelope.CloudEventsStructured:
                body = _cloudEvents.Value.EncodeStructuredMode(routed, out contentType).ToArray();
                break;
            case MessageEnvelope.CloudEventsBinary:
                var binary = _cloudEvents.Value.EncodeBinaryMode(routed);
                contentType = new ContentType(binary.ContentType);

                // The data is the stored payload as it is; the mapper has checked that it is JSON.
                body = Encoding.UTF8.GetBytes(row.Payload);
                foreach (var (name, value) in binary.Attributes)
                {
                    headers.Add(new(CloudEventsAmqp.Prefix + name, value));
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(row), envelope, "Unknown envelope.");
        }

        AddHeaders(headers, routed, stored, envelope);
        return new OutgoingMessage(routed.RoutingKey, envelope, contentType, body, headers);
    }

    /// <summary>Appends <c>.vN</c>: <c>order.placed</c> version 2 is <c>order.placed.v2</c>.</summary>
    public static string WithVersion(string name, int version) => $"{name}.v{version.ToString(CultureInfo.InvariantCulture)}";

    private static void AddHeaders(List<KeyValuePair<string, string>> headers, OutboxEnvelope row, StoredHeaders stored, MessageEnvelope envelope)
    {
        void Add(string name, string value) => headers.Add(new(name, value));

        Add(IntegrationEventHeaders.MessageType, row.MessageType);
        Add(IntegrationEventHeaders.Version, row.Version.ToString(CultureInfo.InvariantCulture));
        Add(IntegrationEventHeaders.Exchange, row.Exchange);
        Add(IntegrationEventHeaders.RoutingKey, row.RoutingKey);
        Add(IntegrationEventHeaders.PartitionKey, row.PartitionKey);
        Add(IntegrationEventHeaders.OccurredAt, row.OccurredAt.ToString("O", CultureInfo.InvariantCulture));
        Add(IntegrationEventHeaders.Envelope, MessageEnvelopeNames.NameOf(envelope));
        if (stored.CorrelationId is { } correlation)
        {
            Add(IntegrationEventHeaders.CorrelationId, correlation.ToString());
        }

        if (stored.CausationId is { } causation)
        {
            Add(IntegrationEventHeaders.CausationId, causation.ToString());
        }

        // The relay's publish span, when tracing is on, is the consumer's parent; otherwise the saving transaction's context.
        var publishing = DomainEventsTracing.CurrentPublish;
        if ((publishing?.Id ?? stored.TraceParent) is { } traceParent)
        {
            // MassTransit consumers join the trace through MT-Activity-Id; others read traceparent.
            Add(IntegrationEventHeaders.TraceParent, traceParent);
            Add("MT-Activity-Id", traceParent);
            if ((publishing is null ? stored.TraceState : publishing.TraceStateString) is { } traceState)
            {
                Add(IntegrationEventHeaders.TraceState, traceState);
            }

            if (stored.Baggage is { } baggage)
            {
                Add(IntegrationEventHeaders.Baggage, baggage);
            }
        }

        // Headers from enrichers, under their own names; a CloudEvent carries them as extension attributes instead.
        if (stored.Custom is { } custom && envelope is MessageEnvelope.MassTransit or MessageEnvelope.PlainJson)
        {
            headers.AddRange(custom);
        }
    }

    /// <summary>
    /// The envelope names the message by its stable name and version, and by the CLR type this service
    /// registered for it, so that consumers sharing the contract type match without further configuration.
    /// </summary>
    private string[] MessageTypesOf(string messageType, int version) =>
        _messageTypes.GetOrAdd((messageType, version), key =>
        {
            var stable = $"urn:message:{key.Item1}:v{key.Item2}";
            return _registry.TryResolve(key.Item1, key.Item2, out var descriptor)
                ? [stable, MessageUrn.ForTypeString(descriptor.ClrType)]
                : [stable];
        });
}
