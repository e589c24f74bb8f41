using DomainEvents.MassTransit;
using MassTransit;

namespace Ordering.Sample;

// A MassTransit send observer, only to print what the relay hands to MassTransit. The relay sets the
// de-* headers on every message it publishes (see IntegrationEventHeaders).
public sealed class RelaySendObserver : ISendObserver
{
    public Task PreSend<T>(SendContext<T> context)
        where T : class
    {
        if (context.Headers.Get<string>(IntegrationEventHeaders.MessageType) is { } messageType)
        {
            Flow.Step("relay", $"claimed the outbox row and publishes {messageType} (persistent, waits for the broker's confirm)",
                ("message id", context.MessageId),
                ("exchange", context.Headers.Get<string>(IntegrationEventHeaders.Exchange)),
                ("routing key", context.Headers.Get<string>(IntegrationEventHeaders.RoutingKey)));
        }

        return Task.CompletedTask;
    }

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class
    {
        if (context.Headers.Get<string>(IntegrationEventHeaders.MessageType) is not null)
        {
            Flow.Step("relay", $"publishing {context.MessageId} failed, the relay will try again: {exception.Message}");
        }

        return Task.CompletedTask;
    }
}
