namespace DomainEvents.Errors;

/// <summary>An integration event could not be serialized to JSON.</summary>
public sealed class EventSerializationException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="eventType">The event type.</param>
    /// <param name="messageType">The message type name.</param>
    /// <param name="innerException">The serializer's error.</param>
    public EventSerializationException(Type eventType, string messageType, Exception innerException)
        : base($"Integration event {eventType.FullName} ('{messageType}') could not be serialized to JSON: {innerException.Message}", innerException)
    {
        EventType = eventType;
        MessageType = messageType;
    }

    /// <summary>Gets the event type.</summary>
    public Type EventType { get; }

    /// <summary>Gets the message type name.</summary>
    public string MessageType { get; }
}
