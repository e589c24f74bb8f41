using global::MassTransit;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The first filter of an integration event endpoint's receive pipe, before MassTransit's deserializer: a body over the
/// consumer's maximum goes to the error queue unread, so a publisher cannot make the consumer parse it.
/// </summary>
internal sealed class MessageSizeFilter : IFilter<ReceiveContext>
{
    private readonly int _maxMessageBytes;

    public MessageSizeFilter(int maxMessageBytes) => _maxMessageBytes = maxMessageBytes;

    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        // RabbitMQ has the body in memory already (its max_message_size bounds that); this only spares the parse.
        var size = context.Body.Length ?? context.Body.GetBytes().LongLength;
        if (size > _maxMessageBytes)
        {
            // Not passing it on leaves it delivered to nobody and acknowledged: MassTransit's dead-letter filter comes later.
            await ErrorQueue.MoveAsync(context, new MessageTooLargeException(size, _maxMessageBytes)).ConfigureAwait(false);
            return;
        }

        await next.Send(context).ConfigureAwait(false);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsMessageSize");
}
