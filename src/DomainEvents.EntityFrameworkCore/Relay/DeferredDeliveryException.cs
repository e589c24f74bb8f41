using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Thrown by a transport when the destination asked to be called again later (HTTP 429 or 503 with
/// Retry-After, say). The attempt counts, and the next one is not before <see cref="RetryAfter"/>.
/// </summary>
public sealed class DeferredDeliveryException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="message">What the destination said.</param>
    /// <param name="retryAfter">The earliest time to try again, from now.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public DeferredDeliveryException(string message, TimeSpan retryAfter, Exception? innerException = null)
        : base(message, innerException)
    {
        RetryAfter = retryAfter;
    }

    /// <summary>Gets how long to wait before the next attempt; the relay waits at most <see cref="OutboxRelayOptions.MaxInterval"/>.</summary>
    public TimeSpan RetryAfter { get; }
}
