using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Thrown by a transport when the destination cannot be reached at all (broker down, connection lost,
/// timed out). The relay does not count it against the message: it releases the rows and pauses.
/// </summary>
public sealed class TransportUnavailableException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="message">What could not be reached.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public TransportUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
