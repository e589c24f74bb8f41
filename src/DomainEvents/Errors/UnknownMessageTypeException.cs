namespace DomainEvents.Errors;

/// <summary>A message names a type that no registered event type has.</summary>
public sealed class UnknownMessageTypeException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="messageType">The message type name that was received.</param>
    public UnknownMessageTypeException(string? messageType)
        : base($"Message type '{messageType ?? "<missing>"}' is not registered. Register the event type, or let the consumer ignore it with IntegrationEventConsumerOptions.Ignore(\"{messageType}\").")
    {
        MessageType = messageType;
    }

    /// <summary>Gets the message type name that was received.</summary>
    public string? MessageType { get; }
}
