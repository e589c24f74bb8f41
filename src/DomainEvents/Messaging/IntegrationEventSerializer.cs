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

        CheckSize(payload, descriptor.MessageType);
        return payload;
    }

    /// <summary>Serializes a payload that has no event type of its own: a change event's data, or an event published by name.</summary>
    /// <exception cref="EventSerializationException">The value cannot be serialized.</exception>
    /// <exception cref="MessagePayloadTooLargeException">The JSON is over the configured maximum.</exception>
    public string SerializeValue(object payload, string messageType)
    {
        string json;
        try
        {
            json = JsonSerializer.Serialize(payload, payload.GetType(), _jsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new EventSerializationException(payload.GetType(), messageType, ex);
        }

        CheckSize(json, messageType);
        return json;
    }

    private void CheckSize(string payload, string messageType)
    {
        // A UTF-8 character takes at most 3 bytes per UTF-16 code unit, so short payloads need no count.
        if ((long)payload.Length * 3 > _maxPayloadBytes)
        {
            var bytes = Encoding.UTF8.GetByteCount(payload);
            if (bytes > _maxPayloadBytes)
            {
                throw new MessagePayloadTooLargeException(messageType, bytes, _maxPayloadBytes);
            }
        }
    }

    public object? Deserialize(ReadOnlySpan<byte> payload, Type eventType) =>
        JsonSerializer.Deserialize(payload, eventType, _jsonOptions);
}
