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
        byte[] bytes;
        try
        {
            bytes = JsonSerializer.SerializeToUtf8Bytes(integrationEvent, descriptor.ClrType, _jsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new EventSerializationException(descriptor.ClrType, descriptor.MessageType, ex);
        }

        if (bytes.Length > _maxPayloadBytes)
        {
            throw new MessagePayloadTooLargeException(descriptor.MessageType, bytes.Length, _maxPayloadBytes);
        }

        return Encoding.UTF8.GetString(bytes);
    }

    public object? Deserialize(ReadOnlySpan<byte> payload, Type eventType) =>
        JsonSerializer.Deserialize(payload, eventType, _jsonOptions);
}
