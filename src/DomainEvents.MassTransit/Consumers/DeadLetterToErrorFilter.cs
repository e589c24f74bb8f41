using DomainEvents.Errors;
using global::MassTransit;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Sends messages that no consumer on the endpoint took to the error queue with a reason, instead of
/// MassTransit's silent <c>_skipped</c> queue.
/// </summary>
internal sealed class DeadLetterToErrorFilter : IFilter<ReceiveContext>
{
    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        var messageType = context.TransportHeaders.Get<string>(IntegrationEventHeaders.MessageType);
        var reason = new UnknownMessageTypeException(messageType ?? $"{context.ContentType?.MediaType ?? "no content type"} message without a {IntegrationEventHeaders.MessageType} header that no consumer on this endpoint accepts");
        await ErrorQueue.MoveAsync(context, reason).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsDeadLetterToError");
}
