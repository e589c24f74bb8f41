using DomainEvents.Errors;

namespace DomainEvents.MassTransit;

/// <summary>
/// A received message is in a known envelope (plain JSON, CloudEvents structured or binary) but the envelope itself
/// cannot be read: the body is not JSON, a required field or attribute is missing, or an attribute has the wrong form.
/// The message goes to the error queue with this reason and is not retried.
/// </summary>
public sealed class MessageEnvelopeInvalidException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="envelope">The envelope the message claimed to be in, such as <c>cloudevents-structured</c>.</param>
    /// <param name="reason">What is wrong with it.</param>
    /// <param name="innerException">The parser's error, if any.</param>
    public MessageEnvelopeInvalidException(string envelope, string reason, Exception? innerException = null)
        : base($"A {envelope} message could not be read: {reason}. Fix the publisher; the message was moved to the error queue and will not be retried.", innerException)
    {
        Envelope = envelope;
        Reason = reason;
    }

    /// <summary>Gets the envelope the message claimed to be in.</summary>
    public string Envelope { get; }

    /// <summary>Gets what is wrong with it.</summary>
    public string Reason { get; }
}
