namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Where the relay sends outbox rows. The MassTransit package provides the broker transport; implement this
/// to relay rows anywhere else. Return when the destination has durably accepted the message; throw otherwise.
/// </summary>
public interface IOutboxTransport
{
    /// <summary>Sends one message; completes when the destination has confirmed it.</summary>
    /// <param name="envelope">The outbox row.</param>
    /// <param name="cancellationToken">Cancelled when the attempt times out or the relay stops.</param>
    /// <returns>A task that completes when the message is confirmed.</returns>
    /// <exception cref="PermanentDeliveryException">The destination rejected the message for good; it goes dead at once.</exception>
    Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken);
}
