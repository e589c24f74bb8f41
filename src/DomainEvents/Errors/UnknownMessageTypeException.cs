namespace DomainEvents.Errors;

/// <summary>A message names a type that no registered event type has.</summary>
public sealed class UnknownMessageTypeException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="messageType">The message type name that was received.</param>
    public UnknownMessageTypeException(string? messageType)
        : base($"Message type '{messageType ?? "<missing>"}' is not registered: no consumer of this endpoint takes a contract with that name. Consume a contract whose name it is (by convention, or with [IntegrationEvent(\"{messageType}\")] or AddDomainEvents(o => o.MapIntegrationEvent<T>(m => m.MessageType = \"{messageType}\"))), or let the consumer ignore it with IntegrationEventConsumerOptions.Ignore(\"{messageType}\").")
    {
        MessageType = messageType;
    }

    /// <summary>Gets the message type name that was received.</summary>
    public string? MessageType { get; }
}
