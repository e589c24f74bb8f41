using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DomainEvents.Errors;
using DomainEvents.Messaging;
using global::MassTransit;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Runs before the consumers of an integration event endpoint. It reads the message type and version
/// headers, resolves them through the registry to the consumer's CLR type (upcasting older versions),
/// and sends anything it cannot accept to the error queue with the reason, without retries.
/// </summary>
internal sealed partial class IntegrationEventReceiveFilter : IFilter<ConsumeContext>
{
    private readonly MessageTypeRegistry _registry;
    private readonly JsonSerializerOptions _jsonOptions;
    private readonly IReadOnlyDictionary<string, IReadOnlyDictionary<int, Type>> _accepted;
    private readonly IReadOnlySet<string> _ignored;
    private readonly ILogger _logger;

    public IntegrationEventReceiveFilter(
        MessageTypeRegistry registry,
        JsonSerializerOptions jsonOptions,
        IReadOnlyDictionary<string, IReadOnlyDictionary<int, Type>> accepted,
        IReadOnlySet<string> ignored,
        ILogger logger)
    {
        _registry = registry;
        _jsonOptions = jsonOptions;
        _accepted = accepted;
        _ignored = ignored;
        _logger = logger;
    }

    public long IgnoredCount => Interlocked.Read(ref _ignoredCount);

    private long _ignoredCount;

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        var messageType = Header(context, IntegrationEventHeaders.MessageType);
        if (messageType is null)
        {
            // Not one of ours: MassTransit matches it by its message type URN, or dead-letters it to the error queue.
            await next.Send(context).ConfigureAwait(false);
            return;
        }

        if (_ignored.Contains(messageType))
        {
            Interlocked.Increment(ref _ignoredCount);
            LogIgnored(_logger, messageType, context.MessageId);
            await ErrorQueue.AcknowledgeAsync(context, "domain-events.ignored").ConfigureAwait(false);
            return;
        }

        if (!_accepted.TryGetValue(messageType, out var versions))
        {
            await ErrorQueue.MoveAsync(context, new UnknownMessageTypeException(messageType)).ConfigureAwait(false);
            return;
        }

        var versionText = Header(context, IntegrationEventHeaders.Version);
        if (!int.TryParse(versionText ?? "1", NumberStyles.Integer, CultureInfo.InvariantCulture, out var version) || version < 1)
        {
            await ErrorQueue.MoveAsync(context, new UnknownMessageVersionException(messageType, -1, [.. versions.Keys.Order()])).ConfigureAwait(false);
            return;
        }

        object message;
        try
        {
            var payload = ReadPayload(context.ReceiveContext);
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

            message = payload.Deserialize(versions[current], _jsonOptions)
                      ?? throw new JsonException("The payload is null.");
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

        var envelope = context.GetOrAddPayload(() => EnvelopeOf(context, messageType, version));

        // Events the consumer raises name this message as their cause and keep its correlation id.
        using (DomainEvents.Messaging.MessageContext.Begin(envelope.MessageId, envelope.CorrelationId ?? envelope.MessageId))
        {
            await next.Send(new IntegrationEventConsumeContext(context, message)).ConfigureAwait(false);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsIntegrationEvents");

    internal static string? Header(ConsumeContext context, string name)
    {
        if (context.ReceiveContext.TransportHeaders.TryGetHeader(name, out var value) || context.Headers.TryGetHeader(name, out value))
        {
            return value switch
            {
                null => null,
                string s => s,
                byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
        }

        return null;
    }

    private static JsonNode ReadPayload(ReceiveContext context)
    {
        var body = context.Body.GetBytes();
        var root = JsonNode.Parse(body) ?? throw new JsonException("The body is JSON null.");
        var mediaType = context.ContentType?.MediaType;
        if (mediaType is null or "application/vnd.masstransit+json")
        {
            return root["message"] ?? throw new JsonException("The MassTransit envelope has no 'message'.");
        }

        if (mediaType is "application/json")
        {
            return root;
        }

        throw new NotSupportedException($"Content type '{mediaType}' is not supported.");
    }

    private static IntegrationEventEnvelope EnvelopeOf(ConsumeContext context, string messageType, int version) =>
        new(
            context.MessageId ?? Guid.Empty,
            messageType,
            version,
            Header(context, IntegrationEventHeaders.Exchange),
            Header(context, IntegrationEventHeaders.RoutingKey),
            Header(context, IntegrationEventHeaders.PartitionKey),
            DateTime.TryParse(Header(context, IntegrationEventHeaders.OccurredAt), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at) ? at : null,
            Guid.TryParse(Header(context, IntegrationEventHeaders.CorrelationId), out var correlation) ? correlation : context.ConversationId,
            Guid.TryParse(Header(context, IntegrationEventHeaders.CausationId), out var causation) ? causation : context.InitiatorId);

    [LoggerMessage(1, LogLevel.Debug, "Ignored {MessageType} {MessageId}, as configured")]
    private static partial void LogIgnored(ILogger logger, string messageType, Guid? messageId);
}
