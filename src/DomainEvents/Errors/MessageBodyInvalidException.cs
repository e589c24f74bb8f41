namespace DomainEvents.Errors;

/// <summary>A received message body is not valid JSON, or does not have the shape of its message type.</summary>
public sealed class MessageBodyInvalidException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="messageType">The message type name the message claimed.</param>
    /// <param name="version">The version it claimed.</param>
    /// <param name="innerException">The parser's error.</param>
    public MessageBodyInvalidException(string messageType, int version, Exception innerException)
        : base($"The body of a '{messageType}' version {version} message could not be read: {innerException.Message}", innerException)
    {
        MessageType = messageType;
        Version = version;
    }

    /// <summary>Gets the message type name the message claimed.</summary>
    public string MessageType { get; }

    /// <summary>Gets the version it claimed.</summary>
    public int Version { get; }
}
