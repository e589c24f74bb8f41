using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DomainEvents.Errors;
using DomainEvents.Messaging;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>Builds outbox rows from integration events and the aggregates that raised them.</summary>
internal sealed class OutboxMessageFactory
{
    /// <summary>Header names used in the outbox and on the wire.</summary>
    public const string CorrelationIdHeader = "correlation-id";

    /// <summary>The causation id header: the message whose handling raised this one.</summary>
    public const string CausationIdHeader = "causation-id";

    private readonly MessageTypeRegistry _registry;
    private readonly IntegrationEventSerializer _serializer;
    private readonly TimeProvider _timeProvider;
    private readonly ConcurrentDictionary<(Type Event, Type Aggregate), string> _exchanges = new();

    public OutboxMessageFactory(MessageTypeRegistry registry, IntegrationEventSerializer serializer, TimeProvider timeProvider)
    {
        _registry = registry;
        _serializer = serializer;
        _timeProvider = timeProvider;
    }

    /// <summary>A row for an event raised by an aggregate: exchange and partition key default to the aggregate's.</summary>
    public OutboxMessage Create(EntityEntry aggregate, IIntegrationEvent integrationEvent, Guid? correlationId, IReadOnlyList<IOutboxHeaderEnricher> enrichers)
    {
        var eventType = integrationEvent.GetType();
        var descriptor = _registry.GetDescriptor(eventType);
        var exchange = ExchangeOf(eventType, aggregate.Metadata.ClrType, descriptor);
        var partitionKey = integrationEvent is IHasPartitionKey keyed ? CheckedPartitionKey(keyed.PartitionKey, eventType) : PartitionKeyOf(aggregate, eventType);
        var payload = _serializer.Serialize(integrationEvent, descriptor);
        return Row(descriptor.MessageType, descriptor.Version, exchange, descriptor.RoutingKey, partitionKey, payload, correlationId, enrichers);
    }

    /// <summary>A row for a typed event published without an aggregate: the exchange and partition key are given or come from the event.</summary>
    public OutboxMessage Create(IIntegrationEvent integrationEvent, string? partitionKey, string? exchange, IReadOnlyList<IOutboxHeaderEnricher> enrichers)
    {
        var eventType = integrationEvent.GetType();
        var descriptor = _registry.GetDescriptor(eventType);
        exchange ??= descriptor.Exchange
                     ?? throw new InvalidRoutingException(eventType, "exchange", null, "no aggregate raised it and its type names no exchange; pass one");
        RoutingValidator.ValidateExchange(eventType, exchange);
        partitionKey ??= (integrationEvent as IHasPartitionKey)?.PartitionKey
                         ?? throw new InvalidRoutingException(eventType, "partition key", null, "no aggregate raised it; pass one (events of one key are published in order)");
        RoutingValidator.ValidateName(eventType, "partition key", partitionKey);
        var payload = _serializer.Serialize(integrationEvent, descriptor);
        return Row(descriptor.MessageType, descriptor.Version, exchange, descriptor.RoutingKey, partitionKey, payload, correlationId: null, enrichers);
    }

    /// <summary>A row for a message that has no event type: published by name, or a change event. Every value is validated here.</summary>
    public OutboxMessage Create(string exchange, string messageType, int version, string routingKey, string partitionKey, object payload, Guid? correlationId, IReadOnlyList<IOutboxHeaderEnricher> enrichers)
    {
        var owner = RoutingOwner.Named(messageType);
        RoutingValidator.ValidateName(owner, "message type", messageType);
        RoutingValidator.ValidateExchange(owner, exchange);
        RoutingValidator.ValidateRoutingKey(owner, routingKey);
        RoutingValidator.ValidateName(owner, "partition key", partitionKey);
        if (version < 1)
        {
            throw owner.Invalid("version", version.ToString(CultureInfo.InvariantCulture), "versions start at 1");
        }

        ArgumentNullException.ThrowIfNull(payload);
        var json = _serializer.SerializeValue(payload, messageType);
        return Row(messageType, version, exchange, routingKey, partitionKey, json, correlationId, enrichers);
    }

    private OutboxMessage Row(string messageType, int version, string exchange, string routingKey, string partitionKey, string payload, Guid? correlationId, IReadOnlyList<IOutboxHeaderEnricher> enrichers)
    {
        List<KeyValuePair<string, string>>? custom = null;
        if (enrichers.Count > 0)
        {
            var headerContext = new OutboxHeaderContext(messageType, version, exchange, routingKey, partitionKey);
            foreach (var enricher in enrichers)
            {
                enricher.Enrich(headerContext);
            }

            custom = headerContext.TakeHeaders();
        }

        var occurredAt = _timeProvider.GetUtcNow();
        var messageId = Guid.CreateVersion7(occurredAt);
        var now = NextOccurredAt(occurredAt.UtcDateTime);
        return new OutboxMessage
        {
            MessageId = messageId,
            MessageType = messageType,
            Version = version,
            Exchange = exchange,
            RoutingKey = routingKey,
            PartitionKey = partitionKey,
            Payload = payload,
            Headers = WriteHeaders(messageId, correlationId, custom),
            OccurredAt = now,
            Status = OutboxMessageStatus.Pending,
            NextAttemptAt = now,
        };
    }

    /// <summary>
    /// Whole microseconds, as PostgreSQL stores them (a message sent from memory right after the commit carries the same
    /// time as one read back from the table), and later than any this factory (one per application) stamped before: two events of one key
    /// saved in the same microsecond, or after the clock stepped back, are still ordered by time (replica positions).
    /// </summary>
    private DateTime NextOccurredAt(DateTime now)
    {
        var ticks = now.Ticks - (now.Ticks % 10);
        while (true)
        {
            var last = Volatile.Read(ref _lastOccurredAtTicks);
            var next = Math.Max(ticks, last + 10);
            if (Interlocked.CompareExchange(ref _lastOccurredAtTicks, next, last) == last)
            {
                return new DateTime(next, DateTimeKind.Utc);
            }
        }
    }

    private long _lastOccurredAtTicks;

    /// <summary>The event's exchange, or by convention the aggregate's kebab-cased name; validated once per pair of types.</summary>
    private string ExchangeOf(Type eventType, Type aggregateType, MessageTypeDescriptor descriptor)
    {
        if (_exchanges.TryGetValue((eventType, aggregateType), out var exchange))
        {
            return exchange;
        }

        exchange = descriptor.Exchange ?? MessageNaming.ToKebabCase(aggregateType.Name);
        RoutingValidator.ValidateExchange(eventType, exchange);
        _exchanges.TryAdd((eventType, aggregateType), exchange);
        return exchange;
    }

    private static string CheckedPartitionKey(string? partitionKey, Type eventType)
    {
        RoutingValidator.ValidateName(eventType, "partition key", partitionKey);
        return partitionKey!;
    }

    private static string PartitionKeyOf(EntityEntry aggregate, Type eventType)
    {
        var key = aggregate.Metadata.FindPrimaryKey();
        var builder = new StringBuilder(aggregate.Metadata.ClrType.Name).Append('/');
        if (key is null)
        {
            throw new InvalidRoutingException(eventType, "partition key", null, $"{aggregate.Metadata.ClrType.Name} has no primary key to partition by");
        }

        for (var i = 0; i < key.Properties.Count; i++)
        {
            var property = aggregate.Property(key.Properties[i].Name);
            if (property.IsTemporary)
            {
                throw new InvalidRoutingException(eventType, "partition key", null,
                    $"the key of the new {aggregate.Metadata.ClrType.Name} is generated by the database and not known before the insert; " +
                    "give aggregates client-generated keys (Guid.CreateVersion7()) so events can be ordered by aggregate");
            }

            if (i > 0)
            {
                builder.Append(',');
            }

            builder.Append(Convert.ToString(property.CurrentValue, CultureInfo.InvariantCulture));
        }

        var partitionKey = builder.ToString();
        RoutingValidator.ValidateName(eventType, "partition key", partitionKey);
        return partitionKey;
    }

    private static string WriteHeaders(Guid messageId, Guid? correlationId, List<KeyValuePair<string, string>>? custom)
    {
        var context = MessageContext.Current;
        var correlation = context?.CorrelationId ?? correlationId ?? messageId;
        var activity = Activity.Current;
        if (activity is not { IdFormat: ActivityIdFormat.W3C, Id: { } traceParent })
        {
            activity = null;
            traceParent = null;
        }

        var traceState = activity?.TraceStateString;
        var baggage = activity is null ? "" : string.Join(",", activity.Baggage.Select(b => $"{Uri.EscapeDataString(b.Key)}={Uri.EscapeDataString(b.Value ?? "")}"));
        if (custom is null && string.IsNullOrEmpty(traceState) && baggage.Length == 0 && (traceParent is null || IsHexOrDash(traceParent)))
        {
            // The common case: Guids and a W3C trace id, which JSON never escapes, so the text is written directly.
            // It is the text Utf8JsonWriter writes below, without its buffers.
            var causation = context is null ? "" : $",\"{CausationIdHeader}\":\"{context.MessageId}\"";
            var trace = traceParent is null ? "" : $",\"traceparent\":\"{traceParent}\"";
            return $"{{\"{CorrelationIdHeader}\":\"{correlation}\"{causation}{trace}}}";
        }

        using var buffer = new MemoryStream(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(CorrelationIdHeader, correlation);
            if (context is not null)
            {
                writer.WriteString(CausationIdHeader, context.MessageId);
            }

            if (traceParent is not null)
            {
                writer.WriteString("traceparent", traceParent);
                if (!string.IsNullOrEmpty(traceState))
                {
                    writer.WriteString("tracestate", traceState);
                }

                if (baggage.Length > 0)
                {
                    writer.WriteString("baggage", baggage);
                }
            }

            if (custom is not null)
            {
                foreach (var (name, value) in custom)
                {
                    writer.WriteString(name, value);
                }
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static bool IsHexOrDash(string value)
    {
        foreach (var c in value)
        {
            if (!(char.IsAsciiHexDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }
}
