using System.Text;
using System.Text.Json;
using DomainEvents.Errors;

namespace DomainEvents.Messaging;

/// <summary>Serializes integration event payloads with System.Text.Json and enforces the size limit.</summary>
internal sealed class IntegrationEventSerializer
{
    private readonly JsonSerializerOptions _jsonOptions;
    private readonly int _maxPayloadBytes;

    public IntegrationEventSerializer(DomainEventsOptions options)
    {
        _jsonOptions = options.JsonSerializerOptions;
        _maxPayloadBytes = options.MaxPayloadBytes;
    }

    public JsonSerializerOptions JsonOptions => _jsonOptions;

    public string Serialize(IIntegrationEvent integrationEvent, MessageTypeDescriptor descriptor)
    {
        string payload;
        try
        {
            payload = JsonSerializer.Serialize(integrationEvent, descriptor.ClrType, _jsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new EventSerializationException(descriptor.ClrType, descriptor.MessageType, ex);
        }

        // A UTF-8 character takes at most 3 bytes per UTF-16 code unit, so short payloads need no count.
        if ((long)payload.Length * 3 > _maxPayloadBytes)
        {
            var bytes = Encoding.UTF8.GetByteCount(payload);
            if (bytes > _maxPayloadBytes)
            {
                throw new MessagePayloadTooLargeException(descriptor.MessageType, bytes, _maxPayloadBytes);
            }
        }

        return payload;
    }

    public object? Deserialize(ReadOnlySpan<byte> payload, Type eventType) =>
        JsonSerializer.Deserialize(payload, eventType, _jsonOptions);
}
