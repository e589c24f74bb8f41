namespace DomainEvents.Messaging;

/// <summary>
/// The message being handled on the current async flow, if any. Consumers set it, so that integration
/// events raised while handling a message carry its correlation id and name it as their cause.
/// </summary>
public sealed class MessageContext
{
    private static readonly AsyncLocal<MessageContext?> CurrentContext = new();

    private MessageContext(Guid messageId, Guid correlationId)
    {
        MessageId = messageId;
        CorrelationId = correlationId;
    }

    /// <summary>Gets the message being handled on this async flow, or <see langword="null"/>.</summary>
    public static MessageContext? Current => CurrentContext.Value;

    /// <summary>Gets the id of the message being handled; it becomes the causation id of new messages.</summary>
    public Guid MessageId { get; }

    /// <summary>Gets the correlation id of the conversation the message belongs to.</summary>
    public Guid CorrelationId { get; }

    /// <summary>Marks the start of handling a message on this async flow.</summary>
    /// <param name="messageId">The id of the message being handled.</param>
    /// <param name="correlationId">Its correlation id.</param>
    /// <returns>A scope that restores the previous context when disposed.</returns>
    public static IDisposable Begin(Guid messageId, Guid correlationId)
    {
        var previous = CurrentContext.Value;
        CurrentContext.Value = new MessageContext(messageId, correlationId);
        return new Scope(previous);
    }

    private sealed class Scope(MessageContext? previous) : IDisposable
    {
        public void Dispose() => CurrentContext.Value = previous;
    }
}
