using System.Text;
using System.Text.Json;
using DomainEvents.Errors;

namespace DomainEvents.Messaging;

/// <summary>
/// Serializes integration event payloads with System.Text.Json and the options of <see cref="DomainEventsOptions"/>, and
/// enforces <see cref="DomainEventsOptions.MaxPayloadBytes"/>. Registered as a singleton by <c>AddDomainEvents</c>; an
/// outbox or a transport of its own resolves it to write payloads the way the shipped packages do.
/// </summary>
public sealed class IntegrationEventSerializer
{
    private readonly JsonSerializerOptions _jsonOptions;
    private readonly int _maxPayloadBytes;

    /// <summary>Initializes a new instance of the <see cref="IntegrationEventSerializer"/> class.</summary>
    /// <param name="options">The JSON options and the payload limit.</param>
    public IntegrationEventSerializer(DomainEventsOptions options)
    {
        _jsonOptions = options.JsonSerializerOptions;
        _maxPayloadBytes = options.MaxPayloadBytes;
    }

    /// <summary>Serializes an integration event as the message type it was registered as.</summary>
    /// <param name="integrationEvent">The event.</param>
    /// <param name="descriptor">Its message type, version and CLR type.</param>
    /// <returns>The JSON payload.</returns>
    /// <exception cref="EventSerializationException">The event cannot be serialized.</exception>
    /// <exception cref="MessagePayloadTooLargeException">The JSON is over the configured maximum.</exception>
    public string Serialize(IIntegrationEvent integrationEvent, MessageTypeDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(integrationEvent);
        ArgumentNullException.ThrowIfNull(descriptor);
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
    /// <param name="payload">The value.</param>
    /// <param name="messageType">The message type named in errors.</param>
    /// <returns>The JSON payload.</returns>
    /// <exception cref="EventSerializationException">The value cannot be serialized.</exception>
    /// <exception cref="MessagePayloadTooLargeException">The JSON is over the configured maximum.</exception>
    public string SerializeValue(object payload, string messageType)
    {
        ArgumentNullException.ThrowIfNull(payload);
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
}
