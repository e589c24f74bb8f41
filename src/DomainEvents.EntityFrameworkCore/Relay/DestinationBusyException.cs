using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Thrown by a transport when one destination takes nothing now (RabbitMQ nacks a publish routed to a queue at its length
/// limit with <c>x-overflow: reject-publish</c>): back-pressure, neither the message's fault nor an outage of the
/// transport. No attempt is counted and the relay does not pause. The row keeps its lease, so its partition key stays
/// busy and the row is tried again once the lease runs out (<see cref="OutboxRelayOptions.LeaseDuration"/>); the rest of
/// its key waits behind it, and other keys keep flowing.
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
