using global::MassTransit;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Tells the drain watcher that the endpoint's consumer handled a message. It sits inside any retry of the consumer and
/// outside its inbox, so it records only an attempt that returned normally, after the inbox transaction committed. (A
/// redelivery filter that swallows a failure and schedules the message again is further out: it never looks like success here.)
/// </summary>
internal sealed class DrainRecordingFilter<TConsumer>(IntegrationEventDrainWatcher watcher, string endpoint) : IFilter<ConsumerConsumeContext<TConsumer>>
    where TConsumer : class
{
    public async Task Send(ConsumerConsumeContext<TConsumer> context, IPipe<ConsumerConsumeContext<TConsumer>> next)
    {
        await next.Send(context).ConfigureAwait(false);
        if (context.MessageId is { } messageId)
        {
            watcher.Handled(endpoint, messageId);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsDrainRecording");
}
