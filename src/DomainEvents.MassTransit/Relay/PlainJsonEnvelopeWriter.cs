using System.Buffers;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Relay;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Writes the plain JSON envelope, <c>{"eventId", "eventTime", "eventType", "aggregate", "payload"}</c>, around a
/// stored payload without deserializing it: the payload's bytes are copied as they are.
/// </summary>
internal static class PlainJsonEnvelopeWriter
{
    public const string ContentType = "application/json";

    public static byte[] Write(OutboxEnvelope row, string eventType)
    {
        var buffer = new ArrayBufferWriter<byte>(row.Payload.Length + 256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("eventId", row.MessageId);
            writer.WriteString("eventTime", DateTime.SpecifyKind(row.OccurredAt, DateTimeKind.Utc));
            writer.WriteString("eventType", eventType);
            writer.WriteString("aggregate", AggregateOf(row));
            writer.WritePropertyName("payload");
            writer.WriteRawValue(row.Payload, skipInputValidation: true);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The aggregate type: the part of the partition key before the '/', or the exchange when the key has none.</summary>
    public static string AggregateOf(OutboxEnvelope row)
    {
        var slash = row.PartitionKey.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? row.PartitionKey[..slash] : row.Exchange;
    }
}
