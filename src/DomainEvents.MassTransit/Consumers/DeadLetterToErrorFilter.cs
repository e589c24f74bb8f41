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
        Exception reason = messageType is null
            ? new MessageNotTypedException(context.ContentType?.MediaType)
            : new UnknownMessageTypeException(messageType);
        await ErrorQueue.MoveAsync(context, reason).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsDeadLetterToError");
}
