using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.Messaging;
using global::MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Makes a consumer's effects exactly once. In one transaction of the consumer's own DbContext it first inserts
/// the inbox row (message id, consumer) unless it is there (<see cref="IInboxStatements"/>: the built-in ones use
/// <c>ON CONFLICT DO NOTHING</c>), then runs the consumer and commits.
/// A message seen before inserts nothing and is acknowledged and skipped without running the consumer. A copy
/// arriving while another is being handled waits on the row's key until the first commits (then it is skipped)
/// or rolls back (then it runs).
/// </summary>
internal sealed partial class InboxFilter<TConsumer, TContext> : IFilter<ConsumerConsumeContext<TConsumer>>
    where TConsumer : class
    where TContext : DbContext
{
    private readonly string _consumerName;
    private readonly string _spanName;
    private readonly TimeProvider _time;
    private readonly IReadOnlyList<Func<ConsumeContext, string?>> _keys;
    private IInboxStatements? _statements;

    public InboxFilter(string consumerName, TimeProvider time, IReadOnlyList<Func<ConsumeContext, string?>>? keys = null)
    {
        _keys = keys ?? [];
        _consumerName = consumerName;
        _spanName = "inbox " + consumerName;
        _time = time;
    }

    public async Task Send(ConsumerConsumeContext<TConsumer> context, IPipe<ConsumerConsumeContext<TConsumer>> next)
    {
        // The envelope's id: for foreign publishers it comes from eventId or the CloudEvents id, not the AMQP message-id.
        // A CloudEvent's key is its (source, id), which the envelope's inbox key holds.
        var messageId = (context.TryGetPayload<IntegrationEventEnvelope>(out var envelope) && envelope.InboxKey != Guid.Empty ? envelope.InboxKey : context.MessageId)
                        ?? throw new InvalidOperationException("A message without a message id cannot pass the inbox.");
        var services = context.GetPayload<IServiceProvider>();
        var db = services.GetRequiredService<TContext>();
        var messageType = envelope?.MessageType ?? IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.MessageType);
        var statements = _statements ??= services.GetInboxStatements(db);

        // A once-per-key consumer takes the business key in the ledger of handled keys instead of the message id.
        var key = KeyOf(context);
        if (key is not null && !DomainEvents.Errors.InvalidEventKeyException.IsValid(key))
        {
            await ErrorQueue.MoveAsync(context, new InvalidMessageKeyException(_consumerName, messageType, key)).ConfigureAwait(false);
            return;
        }

        var duplicate = false;
        using var activity = DomainEventsTracing.Source.StartActivity(ActivityKind.Internal, name: _spanName);
        activity?.SetTag("domainevents.consumer", _consumerName);
        activity?.SetTag("messaging.message.id", messageId.ToString());
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            // Every attempt starts on a clean change tracker: after a transient failure (of the save or the commit)
            // the execution strategy or a message retry runs the consumer again, and entities the failed attempt left
            // tracked would be inserted or incremented a second time.
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(context.CancellationToken).ConfigureAwait(false);
            duplicate = key is not null
                ? !await statements.TryTakeKeyAsync(db, transaction.GetDbTransaction(), key, _consumerName, messageType, _time.GetUtcNow().UtcDateTime, context.CancellationToken).ConfigureAwait(false)
                : !await statements.TryInsertAsync(db, transaction.GetDbTransaction(), messageId, _consumerName, messageType, _time.GetUtcNow().UtcDateTime, context.CancellationToken).ConfigureAwait(false);
            if (duplicate)
            {
                return;
            }

            // The whole transaction is rolled back on failure, so savepoints around the consumer's saves buy nothing
            // but two round trips per save.
            var savepoints = db.Database.AutoSavepointsEnabled;
            db.Database.AutoSavepointsEnabled = false;
            try
            {
                await next.Send(context).ConfigureAwait(false);
                await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
            }
            finally
            {
                db.Database.AutoSavepointsEnabled = savepoints;
            }

            await transaction.CommitAsync(context.CancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);

        activity?.SetTag("domainevents.inbox.duplicate", duplicate);
        if (duplicate)
        {
            LogDuplicate(services.GetRequiredService<ILogger<InboxFilter<TConsumer, TContext>>>(), messageType, messageId, _consumerName);
            ConsumerMetrics.Duplicate(messageType, _consumerName);
            await ErrorQueue.AcknowledgeAsync(context, "domain-events.inbox-duplicate").ConfigureAwait(false);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsInbox");

    private string? KeyOf(ConsumeContext context)
    {
        foreach (var key in _keys)
        {
            if (key(context) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    [LoggerMessage(1, LogLevel.Information, "Skipped duplicate {MessageType} {MessageId} for {Consumer}")]
    private static partial void LogDuplicate(ILogger logger, string? messageType, Guid messageId, string consumer);
}
