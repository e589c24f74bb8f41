using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DomainEvents.Errors;
using DomainEvents.Messaging;
using global::MassTransit;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Runs before the consumers of an integration event endpoint. It works out the message type, version, id and
/// payload from whichever envelope the message is in (MassTransit, plain JSON, CloudEvents structured or binary),
/// resolves type and version through the registry to the consumer's CLR type (upcasting older versions), and sends
/// anything it cannot accept to the error queue with the reason, without retries.
/// </summary>
internal sealed partial class IntegrationEventReceiveFilter : IFilter<ConsumeContext>
{
    private readonly MessageTypeRegistry _registry;
    private readonly JsonSerializerOptions _jsonOptions;
    private readonly IReadOnlyDictionary<string, IReadOnlyDictionary<int, Type>> _accepted;
    private readonly IReadOnlySet<string> _ignored;
    private readonly string _endpoint;
    private readonly ILogger _logger;
    private readonly IntegrationEventDrainWatcher? _drain;
    private long _ignoredCount;

    public IntegrationEventReceiveFilter(
        MessageTypeRegistry registry,
        JsonSerializerOptions jsonOptions,
        IReadOnlyDictionary<string, IReadOnlyDictionary<int, Type>> accepted,
        IReadOnlySet<string> ignored,
        string endpoint,
        ILogger logger,
        IntegrationEventDrainWatcher? drain = null)
    {
        _drain = drain;
        _registry = registry;
        _jsonOptions = jsonOptions;
        _accepted = accepted;
        _ignored = ignored;
        _endpoint = endpoint;
        _logger = logger;
    }

    public long IgnoredCount => Interlocked.Read(ref _ignoredCount);

    /// <summary>Gets whether a message of a type the endpoint does not know is handed over as JSON (<see cref="IntegrationEventJson"/>) rather than refused.</summary>
    public bool TakesAnyType { get; init; }

    private static readonly IReadOnlyDictionary<int, Type> AnyVersion = new Dictionary<int, Type>();

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        IncomingMessage? incoming;
        try
        {
            incoming = IncomingMessageReader.Read(context);
        }
        catch (Exception ex) when (ex is MessageEnvelopeInvalidException or MessageBodyInvalidException)
        {
            await ErrorQueue.MoveAsync(context, ex).ConfigureAwait(false);
            return;
        }

        if (incoming is null)
        {
            // Raw JSON that names no type would reach every consumer of the endpoint (MassTransit's raw deserializer
            // takes it as any type), unless a foreign MassTransit publisher named the type in MT-MessageType.
            var mediaType = context.ReceiveContext.ContentType?.MediaType;
            if ((mediaType is null || string.Equals(mediaType, "application/json", StringComparison.OrdinalIgnoreCase))
                && string.IsNullOrWhiteSpace(TextOf(context.ReceiveContext.TransportHeaders.TryGetHeader("MT-MessageType", out var named) ? named : null)))
            {
                await ErrorQueue.MoveAsync(context, new MessageNotTypedException(mediaType)).ConfigureAwait(false);
                return;
            }

            // Not one of ours: MassTransit matches it by its message type URN, or dead-letters it to the error queue.
            await next.Send(context).ConfigureAwait(false);
            return;
        }

        var (messageType, version) = Resolve(incoming);
        if (_ignored.Contains(messageType))
        {
            Interlocked.Increment(ref _ignoredCount);
            ConsumerMetrics.Ignored(messageType, _endpoint);
            LogIgnored(_logger, messageType, incoming.MessageId ?? context.MessageId);
            await ErrorQueue.AcknowledgeAsync(context, "domain-events.ignored").ConfigureAwait(false);
            return;
        }

        var asJson = false;
        if (!_accepted.TryGetValue(messageType, out var versions))
        {
            if (!TakesAnyType)
            {
                await ErrorQueue.MoveAsync(context, new UnknownMessageTypeException(messageType)).ConfigureAwait(false);
                return;
            }

            (asJson, versions) = (true, AnyVersion);
        }

        if (version < 1)
        {
            await ErrorQueue.MoveAsync(context, new UnknownMessageVersionException(messageType, IncomingMessage.InvalidVersion, [.. versions.Keys.Order()])).ConfigureAwait(false);
            return;
        }

        object message;
        try
        {
            var payload = incoming.ReadPayload();
            message = asJson
                ? new IntegrationEventJson(JsonSerializer.SerializeToElement(payload ?? throw new JsonException("The payload is null."), _jsonOptions))
                : Deserialize(payload, messageType, version, versions);
        }
        catch (UnknownMessageVersionException ex)
        {
            await ErrorQueue.MoveAsync(context, ex).ConfigureAwait(false);
            return;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            await ErrorQueue.MoveAsync(context, new MessageBodyInvalidException(messageType, version, ex)).ConfigureAwait(false);
            return;
        }

        var envelope = context.GetOrAddPayload(() => EnvelopeOf(incoming, messageType, version));

        // Events the consumer raises name this message as their cause and keep its correlation id.
        using (DomainEvents.Messaging.MessageContext.Begin(envelope.MessageId, envelope.CorrelationId ?? envelope.MessageId))
        using (var activity = StartConsumeActivity(context, envelope))
        {
            try
            {
                await next.Send(new IntegrationEventConsumeContext(context, message, envelope.MessageId)).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _drain?.Failed(_endpoint, envelope.MessageId, ex);
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                activity?.AddException(ex);
                throw;
            }

            ConsumerMetrics.Consumed(messageType, _endpoint, envelope.OccurredAt);
        }
    }

    /// <summary>Reads the payload as the consumer's type, upcast from an older version where the endpoint lacks it.</summary>
    private object Deserialize(System.Text.Json.Nodes.JsonNode payload, string messageType, int version, IReadOnlyDictionary<int, Type> versions)
    {
        var current = version;
        while (!versions.ContainsKey(current))
        {
            if (!_registry.TryGetUpcaster(messageType, current, out var upcaster))
            {
                throw new UnknownMessageVersionException(messageType, version, [.. versions.Keys.Order()]);
            }

            payload = upcaster.Upcast(payload);
            current = upcaster.ToVersion;
        }

        return payload.Deserialize(versions[current], _jsonOptions) ?? throw new JsonException("The payload is null.");
    }

    /// <summary>
    /// A consumer span around the endpoint's consumer. Its parent is MassTransit's receive span when MassTransit's own
    /// tracing is on; otherwise the trace context in the message (the relay's publish span), so a consumer joins the
    /// saving request's trace either way, with the baggage that was stored with the row.
    /// </summary>
    private Activity? StartConsumeActivity(ConsumeContext context, IntegrationEventEnvelope envelope)
    {
        if (!DomainEventsTracing.Source.HasListeners())
        {
            return null;
        }

        var parent = default(ActivityContext);
        var fromMessage = Activity.Current is null
                          && ActivityContext.TryParse(Header(context, IntegrationEventHeaders.TraceParent) ?? Header(context, "ce-traceparent"), Header(context, IntegrationEventHeaders.TraceState) ?? Header(context, "ce-tracestate"), isRemote: true, out parent);
        var activity = DomainEventsTracing.Source.StartActivity("process " + (envelope.Exchange ?? _endpoint), ActivityKind.Consumer, fromMessage ? parent : default);
        if (activity is null)
        {
            return null;
        }

        activity.SetTag("messaging.operation.type", "process");
        activity.SetTag("messaging.destination.name", envelope.Exchange);
        activity.SetTag("messaging.message.id", envelope.MessageId.ToString());
        activity.SetTag("domainevents.message.type", envelope.MessageType);
        activity.SetTag("domainevents.endpoint", _endpoint);
        activity.SetTag("domainevents.partition_key", envelope.PartitionKey);
        if (fromMessage)
        {
            DomainEventsTracing.AddBaggage(activity, Header(context, IntegrationEventHeaders.Baggage));
        }

        return activity;
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsIntegrationEvents");

    internal static string? Header(ConsumeContext context, string name) =>
        context.ReceiveContext.TransportHeaders.TryGetHeader(name, out var value) || context.Headers.TryGetHeader(name, out value)
            ? TextOf(value)
            : null;

    internal static string? TextOf(object? value) => value switch
    {
        null => null,
        string s => s,
        byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
        RabbitMQ.Client.AmqpTimestamp t => DateTimeOffset.FromUnixTimeSeconds(t.UnixTime).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>
    /// The type as sent when this endpoint knows it; otherwise, a <c>.vN</c> suffix is split off (<c>order.placed.v2</c> is
    /// <c>order.placed</c> version 2), the version the message states winning over the suffix. No version at all is 1.
    /// </summary>
    private (string MessageType, int Version) Resolve(IncomingMessage incoming)
    {
        var name = incoming.TypeName;
        var version = incoming.Version;
        // A handler of any type splits the suffix off too, unless the name is a registered type of its own (payment.v2).
        if (!IsKnown(name) && TrySplitVersion(name, out var baseName, out var suffix)
            && (IsKnown(baseName) || (TakesAnyType && !_registry.Descriptors.Any(d => d.MessageType == name))))
        {
            name = baseName;
            version ??= suffix;
        }

        return (name, version ?? 1);
    }

    private bool IsKnown(string messageType) => _accepted.ContainsKey(messageType) || _ignored.Contains(messageType);

    private static bool TrySplitVersion(string name, out string baseName, out int version)
    {
        var dot = name.LastIndexOf(".v", StringComparison.Ordinal);
        if (dot > 0 && int.TryParse(name.AsSpan(dot + 2), NumberStyles.None, CultureInfo.InvariantCulture, out version) && version >= 1)
        {
            baseName = name[..dot];
            return true;
        }

        baseName = name;
        version = 0;
        return false;
    }

    private static IntegrationEventEnvelope EnvelopeOf(IncomingMessage incoming, string messageType, int version) =>
        new(
            incoming.MessageId ?? Guid.Empty,
            messageType,
            version,
            incoming.Exchange,
            incoming.RoutingKey,
            incoming.PartitionKey,
            incoming.OccurredAt,
            incoming.CorrelationId,
            incoming.CausationId)
        {
            Envelope = incoming.Envelope,
            Source = incoming.Source,
            Subject = incoming.Subject,
            Headers = (IReadOnlyDictionary<string, string>?)incoming.Headers ?? new Dictionary<string, string>(),
            InboxKey = incoming.InboxKey ?? incoming.MessageId ?? Guid.Empty,
        };

    [LoggerMessage(1, LogLevel.Debug, "Ignored {MessageType} {MessageId}, as configured")]
    private static partial void LogIgnored(ILogger logger, string messageType, Guid? messageId);
}
