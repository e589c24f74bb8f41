namespace DomainEvents.Errors;

/// <summary>The base of every error this library raises on purpose.</summary>
public abstract class DomainEventsException : Exception
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="message">What went wrong and what to do about it.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    protected DomainEventsException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
