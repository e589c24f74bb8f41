using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Thrown by a transport when one destination takes nothing now (RabbitMQ nacks a publish routed to a queue at its length
/// limit with <c>x-overflow: reject-publish</c>): back-pressure on that message's exchange and routing key, neither the
/// message's fault nor an outage of the transport. No attempt is counted. The relay holds back rows to the same
/// exchange and routing key, each with the rest of its partition key, for a pause that doubles while the destination
/// stays busy (up to <see cref="OutboxRelayOptions.MaxOutagePause"/>); other routes keep flowing.
/// </summary>
public sealed class DestinationBusyException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="message">What the destination said.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public DestinationBusyException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
