using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>Thrown by a transport when retrying cannot help (the destination rejected the message); the row goes dead at once.</summary>
public sealed class PermanentDeliveryException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="message">Why the message was rejected.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public PermanentDeliveryException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
