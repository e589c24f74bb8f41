using DomainEvents.EntityFrameworkCore.Inbox;
using global::MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Makes a consumer's effects exactly once: in one transaction of the consumer's own DbContext it checks the
/// inbox for the message id, runs the consumer, and records the id. A duplicate (seen before, or committed
/// by a concurrent copy first) is acknowledged and skipped.
/// </summary>
internal sealed partial class InboxFilter<TConsumer, TContext> : IFilter<ConsumerConsumeContext<TConsumer>>
    where TConsumer : class
    where TContext : DbContext
{
    private readonly string _consumerName;
    private readonly TimeProvider _time;

    public InboxFilter(string consumerName, TimeProvider time)
    {
        _consumerName = consumerName;
        _time = time;
    }

    public async Task Send(ConsumerConsumeContext<TConsumer> context, IPipe<ConsumerConsumeContext<TConsumer>> next)
    {
        // The envelope's id: for foreign publishers it comes from eventId or the CloudEvents id, not the AMQP message-id.
        var messageId = (context.TryGetPayload<IntegrationEventEnvelope>(out var envelope) && envelope.MessageId != Guid.Empty ? envelope.MessageId : context.MessageId)
                        ?? throw new InvalidOperationException("A message without a message id cannot pass the inbox.");
        var services = context.GetPayload<IServiceProvider>();
        var db = services.GetRequiredService<TContext>();
        var logger = services.GetRequiredService<ILogger<InboxFilter<TConsumer, TContext>>>();
        var messageType = envelope?.MessageType ?? IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.MessageType);

        var duplicate = false;
        try
        {
            var strategy = db.Database.CreateExecutionStrategy();
            await strategy.ExecuteAsync(async () =>
            {
                duplicate = false;
                await using var transaction = await db.Database.BeginTransactionAsync(context.CancellationToken).ConfigureAwait(false);
                var inbox = db.Set<InboxMessage>();
                if (await inbox.AnyAsync(m => m.MessageId == messageId && m.Consumer == _consumerName, context.CancellationToken).ConfigureAwait(false))
                {
                    duplicate = true;
                    return;
                }

                inbox.Add(new InboxMessage { MessageId = messageId, Consumer = _consumerName, MessageType = messageType, ProcessedAt = _time.GetUtcNow().UtcDateTime });
                await next.Send(context).ConfigureAwait(false);
                await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(context.CancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            // A concurrent copy of the same message may have committed first; then this copy's changes were rolled back.
            if (!await SeenAsync(services, messageId).ConfigureAwait(false))
            {
                throw;
            }

            duplicate = true;
        }

        if (duplicate)
        {
            LogDuplicate(logger, messageType, messageId, _consumerName);
            await ErrorQueue.AcknowledgeAsync(context, "domain-events.inbox-duplicate").ConfigureAwait(false);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsInbox");

    private async Task<bool> SeenAsync(IServiceProvider services, Guid messageId)
    {
        await using var scope = services.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        return await db.Set<InboxMessage>().AnyAsync(m => m.MessageId == messageId && m.Consumer == _consumerName).ConfigureAwait(false);
    }

    [LoggerMessage(1, LogLevel.Information, "Skipped duplicate {MessageType} {MessageId} for {Consumer}")]
    private static partial void LogDuplicate(ILogger logger, string? messageType, Guid messageId, string consumer);
}
