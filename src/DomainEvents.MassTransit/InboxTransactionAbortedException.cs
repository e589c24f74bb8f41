using DomainEvents.Errors;

namespace DomainEvents.MassTransit;

/// <summary>
/// A consumer behind the inbox caught a database error and returned, but the error had aborted the inbox's transaction
/// (on PostgreSQL any failed statement outside a savepoint does), so committing would have rolled the message's effects
/// and its inbox row back without a word. The inbox ran the consumer once more with EF Core's savepoints, which make a
/// failed <c>SaveChanges</c> harmless, and the transaction was aborted again: nothing of the message was committed,
/// and it fails with this error (the error queue, after the endpoint's retries) instead of being acknowledged.
/// The caught error is in <see cref="CaughtError"/> and in the message, not the inner exception: the error queue's fault
/// headers describe a fault's innermost exception, and they must name this one.
/// </summary>
public sealed class InboxTransactionAbortedException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="consumer">The consumer.</param>
    /// <param name="messageType">The message type.</param>
    /// <param name="caught">The first database error in the transaction, which the consumer caught.</param>
    public InboxTransactionAbortedException(string consumer, string? messageType, Exception caught)
        : base($"{consumer} caught a database error while handling a {messageType} message and went on, but the error aborted the inbox's transaction, so nothing of the message was committed. "
               + "A statement that is not a SaveChanges (raw SQL, a query) aborts a PostgreSQL transaction even with EF Core's savepoints: let the error propagate, or run the statement in a savepoint of your own. "
               + $"The error caught: {caught.GetType().FullName}: {caught.Message}")
    {
        ArgumentNullException.ThrowIfNull(caught);
        Consumer = consumer;
        MessageType = messageType;
        CaughtError = caught;
    }

    /// <summary>Gets the first database error in the transaction, which the consumer caught.</summary>
    public Exception CaughtError { get; }

    /// <summary>Gets the consumer.</summary>
    public string Consumer { get; }

    /// <summary>Gets the message type.</summary>
    public string? MessageType { get; }
}
