using DomainEvents.Errors;

namespace DomainEvents.MassTransit;

/// <summary>
/// A once-per-key consumer's key selector gave an empty key or one longer than the limit for a message: it cannot be
/// handled once per key, so it goes to the error queue with this reason instead of being handled.
/// </summary>
public sealed class InvalidMessageKeyException : DomainEventsException
{
    /// <summary>The longest key, in characters.</summary>
    public const int MaxLength = InvalidEventKeyException.MaxLength;

    /// <summary>Initializes the exception.</summary>
    /// <param name="consumer">The consumer.</param>
    /// <param name="messageType">The message type.</param>
    /// <param name="key">The key the selector gave.</param>
    public InvalidMessageKeyException(string consumer, string? messageType, string? key)
        : base($"{consumer} handles each key once, but the key of this {messageType} message is {(string.IsNullOrWhiteSpace(key) ? "empty" : key.Length > MaxLength ? $"{key.Length} characters long, over {MaxLength}" : "holds a control character")}.")
    {
        Consumer = consumer;
        MessageType = messageType;
        Key = key;
    }

    /// <summary>Gets the consumer.</summary>
    public string Consumer { get; }

    /// <summary>Gets the message type.</summary>
    public string? MessageType { get; }

    /// <summary>Gets the key the selector gave.</summary>
    public string? Key { get; }
}
