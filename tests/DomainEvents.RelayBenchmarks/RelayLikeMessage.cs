using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DomainEvents.MassTransit;
using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// The message the relay puts on the wire for an outbox row (its MassTransit envelope around the stored payload and
/// its de-* headers), written here without the library, for the raw RabbitMQ.Client baseline and for pre-loading the
/// inbox queue. Same shape and size as the relay's, so the baselines move the same bytes.
/// </summary>
public static class RelayLikeMessage
{
    public const string ContentType = "application/vnd.masstransit+json";
    public const string MessageType = "order.placed";

    public static byte[] Body(Guid messageId, string exchange, string routingKey, string partitionKey, string payload, DateTime occurredAt)
    {
        var buffer = new ArrayBufferWriter<byte>(payload.Length + 512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("messageId", messageId);
            writer.WriteString("conversationId", messageId);
            writer.WriteString("destinationAddress", $"exchange:{exchange}?type=topic");
            writer.WriteStartArray("messageType");
            writer.WriteStringValue($"urn:message:{MessageType}:v1");
            writer.WriteStringValue($"urn:message:{typeof(OrderPlaced).Namespace}:{nameof(OrderPlaced)}");
            writer.WriteEndArray();
            writer.WritePropertyName("message");
            writer.WriteRawValue(payload, skipInputValidation: true);
            writer.WriteString("sentTime", DateTime.UtcNow);
            writer.WriteStartObject("headers");
            writer.WriteString(IntegrationEventHeaders.MessageType, MessageType);
            writer.WriteNumber(IntegrationEventHeaders.Version, 1);
            writer.WriteString(IntegrationEventHeaders.Exchange, exchange);
            writer.WriteString(IntegrationEventHeaders.RoutingKey, routingKey);
            writer.WriteString(IntegrationEventHeaders.PartitionKey, partitionKey);
            writer.WriteString(IntegrationEventHeaders.OccurredAt, occurredAt);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static BasicProperties Properties(Guid messageId, string exchange, string routingKey, string partitionKey, DateTime occurredAt) =>
        new()
        {
            Persistent = true,
            MessageId = messageId.ToString(),
            ContentType = ContentType,
            Headers = Headers(messageId, exchange, routingKey, partitionKey, occurredAt)
                .ToDictionary(h => h.Name, h => (object?)Encoding.UTF8.GetBytes(h.Value), StringComparer.Ordinal),
        };

    /// <summary>The 8 AMQP headers the relay writes on a row stored without a trace context.</summary>
    public static (string Name, string Value)[] Headers(Guid messageId, string exchange, string routingKey, string partitionKey, DateTime occurredAt) =>
    [
        (IntegrationEventHeaders.MessageType, MessageType),
        (IntegrationEventHeaders.Version, "1"),
        (IntegrationEventHeaders.Exchange, exchange),
        (IntegrationEventHeaders.RoutingKey, routingKey),
        (IntegrationEventHeaders.PartitionKey, partitionKey),
        (IntegrationEventHeaders.OccurredAt, occurredAt.ToString("O", CultureInfo.InvariantCulture)),
        (IntegrationEventHeaders.Envelope, "masstransit"),
        (IntegrationEventHeaders.CorrelationId, messageId.ToString()),
    ];

    public static string Payload(OrderPlaced placed) => JsonSerializer.Serialize(placed, Payloads.Json);

    /// <summary>An order placed as the relay would send it, published straight to <paramref name="queue"/> (the default exchange).</summary>
    public static (string Exchange, string RoutingKey, BasicProperties Properties, byte[] Body) ToQueue(string queue, string exchange, OrderPlaced placed, DateTime occurredAt)
    {
        var messageId = Guid.CreateVersion7();
        var key = $"Order/{placed.OrderId}";
        return ("", queue,
            Properties(messageId, exchange, ThroughputBenchmark.RoutingKey, key, occurredAt),
            Body(messageId, exchange, ThroughputBenchmark.RoutingKey, key, Payload(placed), occurredAt));
    }
}
