using System.Buffers;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Relay;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Writes a MassTransit JSON envelope around a stored payload without deserializing it: the payload's bytes
/// are copied as they are.
/// </summary>
internal static class MassTransitEnvelopeWriter
{
    public const string ContentType = "application/vnd.masstransit+json";

    public static byte[] Write(OutboxEnvelope row, IReadOnlyList<string> messageTypes, string destination, StoredHeaders headers, DateTime sentTime)
    {
        var buffer = new ArrayBufferWriter<byte>(row.Payload.Length + 512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("messageId", row.MessageId);
            if (headers.CorrelationId is { } correlation)
            {
                writer.WriteString("conversationId", correlation);
            }

            if (headers.CausationId is { } causation)
            {
                writer.WriteString("initiatorId", causation);
            }

            writer.WriteString("destinationAddress", destination);
            writer.WriteStartArray("messageType");
            foreach (var type in messageTypes)
            {
                writer.WriteStringValue(type);
            }

            writer.WriteEndArray();
            writer.WritePropertyName("message");
            writer.WriteRawValue(row.Payload, skipInputValidation: true);
            writer.WriteString("sentTime", sentTime);
            writer.WriteStartObject("headers");
            writer.WriteString(IntegrationEventHeaders.MessageType, row.MessageType);
            writer.WriteNumber(IntegrationEventHeaders.Version, row.Version);
            writer.WriteString(IntegrationEventHeaders.Exchange, row.Exchange);
            writer.WriteString(IntegrationEventHeaders.RoutingKey, row.RoutingKey);
            writer.WriteString(IntegrationEventHeaders.PartitionKey, row.PartitionKey);
            writer.WriteString(IntegrationEventHeaders.OccurredAt, row.OccurredAt);
            if (headers.Custom is { } custom)
            {
                foreach (var (name, value) in custom)
                {
                    writer.WriteString(name, value);
                }
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
