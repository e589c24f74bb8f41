using global::MassTransit;
using global::MassTransit.Context;
using global::MassTransit.Middleware.Rescue;
using global::MassTransit.Transports;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>Moves a message to the endpoint's error queue with the reason, without retrying it.</summary>
internal static class ErrorQueue
{
    public static async Task MoveAsync(ReceiveContext context, Exception reason)
    {
        if (!context.TryGetPayload<IErrorTransport>(out var errorTransport))
        {
            throw reason;
        }

        var exceptionContext = new RescueExceptionReceiveContext(context, reason);
        exceptionContext.ExceptionHeaders.Set(IntegrationEventHeaders.ErrorReason, reason.Message);
        await errorTransport.Send(exceptionContext).ConfigureAwait(false);
    }

    public static async Task MoveAsync(ConsumeContext context, Exception reason)
    {
        await MoveAsync(context.ReceiveContext, reason).ConfigureAwait(false);
        await AcknowledgeAsync(context, "domain-events.error-queue").ConfigureAwait(false);
    }

    /// <summary>Marks the message as handled so MassTransit neither dead-letters nor redelivers it.</summary>
    public static Task AcknowledgeAsync(ConsumeContext context, string by) =>
        context.NotifyConsumed(new MessageConsumeContext<Acknowledged>(context, Acknowledged.Instance), TimeSpan.Zero, by);

    internal sealed class Acknowledged
    {
        public static readonly Acknowledged Instance = new();
    }
}
