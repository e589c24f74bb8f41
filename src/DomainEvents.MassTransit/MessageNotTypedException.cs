using DomainEvents.Errors;

namespace DomainEvents.MassTransit;

/// <summary>
/// A received message names no type that a consumer on the endpoint accepts: it has no <c>de-message-type</c> header and
/// is not in an envelope that names its type (plain JSON with <c>eventType</c>, CloudEvents), or it is a MassTransit
/// envelope whose message types no consumer here takes. No consumer runs; it goes to the error queue with this reason.
/// </summary>
public sealed class MessageNotTypedException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="contentType">The message's content type, if it had one.</param>
    public MessageNotTypedException(string? contentType)
        : base($"A {contentType ?? "content-type-less"} message arrived without a {IntegrationEventHeaders.MessageType} header and not in an envelope that names " +
               "a type a consumer on this endpoint accepts (plain JSON with eventType, CloudEvents, or a MassTransit envelope with a matching message type), " +
               "so no consumer on this endpoint accepts it. It was moved to the error queue and will not be retried; publish it with that header or in one of those envelopes.")
    {
        ContentType = contentType;
    }

    /// <summary>Gets the message's content type, if it had one.</summary>
    public string? ContentType { get; }
}
