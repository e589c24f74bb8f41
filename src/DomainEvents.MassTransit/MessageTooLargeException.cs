using DomainEvents.Errors;

namespace DomainEvents.MassTransit;

/// <summary>
/// A received message's body is larger than the consumer's <c>MaxMessageBytes</c>. It is moved to the error queue
/// with this reason before it is parsed, so a publisher cannot make a consumer allocate without bound.
/// </summary>
public sealed class MessageTooLargeException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="size">The body's size in bytes.</param>
    /// <param name="maxSize">The consumer's maximum in bytes.</param>
    public MessageTooLargeException(long size, int maxSize)
        : base($"The message body is {size} bytes, over this consumer's maximum of {maxSize} bytes (IntegrationEventConsumerOptions.MaxMessageBytes). " +
               "It was moved to the error queue unread and will not be retried; send a reference to the data instead, or raise the limit.")
    {
        Size = size;
        MaxSize = maxSize;
    }

    /// <summary>Gets the body's size in bytes.</summary>
    public long Size { get; }

    /// <summary>Gets the consumer's maximum in bytes.</summary>
    public int MaxSize { get; }
}
