namespace DomainEvents.Errors;

/// <summary>An integration event's serialized payload is larger than the configured maximum.</summary>
public sealed class MessagePayloadTooLargeException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <param name="size">The payload size in bytes.</param>
    /// <param name="maxSize">The configured maximum in bytes.</param>
    public MessagePayloadTooLargeException(string messageType, int size, int maxSize)
        : base($"The payload of '{messageType}' is {size} bytes, over the maximum of {maxSize} bytes " +
               $"(DomainEventsOptions.{nameof(DomainEventsOptions.MaxPayloadBytes)}). Send a reference to the data instead, or raise the limit.")
    {
        MessageType = messageType;
        Size = size;
        MaxSize = maxSize;
    }

    /// <summary>Gets the message type name.</summary>
    public string MessageType { get; }

    /// <summary>Gets the payload size in bytes.</summary>
    public int Size { get; }

    /// <summary>Gets the configured maximum in bytes.</summary>
    public int MaxSize { get; }
}
