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

    /// <summary>What the inbox reports when it finds the transaction aborted and its context has no inbox interceptor to see failures.</summary>
    private static readonly Exception UnseenFailure = new InvalidOperationException(
        "A statement that the inbox did not see failed and aborted the transaction: the context's options were built without the DomainEvents inbox interceptor.");

    /// <summary>What the inbox reports when it finds the transaction aborted, its interceptor saw every failure of EF Core's, and none failed.</summary>
    private static readonly Exception FailurePastEfCore = new InvalidOperationException(
        "A statement sent past EF Core (ADO.NET or Dapper on the context's connection) failed and aborted the transaction; no savepoint of EF Core's covers it.");

    /// <summary>PostgreSQL's <c>in_failed_sql_transaction</c>: a statement sent to a transaction that an earlier failure aborted.</summary>
    private const string InFailedTransaction = "25P02";

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
        if ((context.TryGetPayload<IntegrationEventEnvelope>(out var envelope) && envelope.InboxKey != Guid.Empty ? envelope.InboxKey : context.MessageId) is not { } messageId)
        {
            // Nothing to tell a redelivery by: trying again cannot help, so the message goes to the error queue at once.
            await ErrorQueue.MoveAsync(context, new MessageEnvelopeInvalidException(
                MessageEnvelopeNames.NameOf(envelope?.Envelope ?? MessageEnvelope.MassTransit),
                "it has no message id (the envelope's id or the AMQP message-id), which the inbox needs to handle it once")).ConfigureAwait(false);
            return;
        }

        var services = context.GetPayload<IServiceProvider>();
        var db = services.GetRequiredService<TContext>();
        var messageType = envelope?.MessageType ?? IntegrationEventReceiveFilter.Header(context, IntegrationEventHeaders.MessageType);
        var statements = _statements ??= services.GetInboxStatements(db);

        // The inbox's interceptor, last among the context's transaction interceptors, commits through the statements, which
        // find a transaction aborted by a failure the inbox did not see in the COMMIT's own round trip. Otherwise every
        // message pays for a check before its commit. Asked of each context: options may differ from one to the next.
        var place = InboxCommandFailures.PlaceIn(db);

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
            // The whole transaction is rolled back on failure, so savepoints around the consumer's saves buy nothing but
            // two round trips per save: they are off, unless the consumer catches a database error and goes on (below).
            var withSavepoints = false;
            while (true)
            {
                // Every attempt starts on a clean change tracker: after a transient failure (of the save or the commit)
                // the execution strategy or a message retry runs the consumer again, and entities the failed attempt left
                // tracked would be inserted or incremented a second time.
                db.ChangeTracker.Clear();
                await using var transaction = await db.Database.BeginTransactionAsync(context.CancellationToken).ConfigureAwait(false);
                var dbTransaction = transaction.GetDbTransaction();
                InboxCommandFailures.Instance.Forget(dbTransaction);
                duplicate = !await TakeAsync(statements, db, dbTransaction, key, messageId, messageType, context.CancellationToken).ConfigureAwait(false);
                if (duplicate)
                {
                    return;
                }

                var caught = await ConsumeAsync(context, next, statements, db, dbTransaction, key, messageId, messageType, withSavepoints, place).ConfigureAwait(false);
                if (caught is null && place != InboxInterceptorPlace.Last)
                {
                    await transaction.CommitAsync(context.CancellationToken).ConfigureAwait(false);
                    return;
                }

                if (caught is null)
                {
                    try
                    {
                        await InboxCommandFailures.Instance.CommitCheckedAsync(transaction, statements, context.CancellationToken).ConfigureAwait(false);
                        return;
                    }
                    catch (Exception ex) when (ex is InboxCommitAbortedException || (ex is System.Data.Common.DbException { SqlState: InFailedTransaction }))
                    {
                        // Every failure of EF Core's is seen (above): this one was sent past it, and no savepoint of EF
                        // Core's covers it. Running the consumer again would abort the transaction again. (The statements of
                        // an interceptor that commits before the inbox's, such as the outbox's change rows, meet it first.)
                        await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                        throw new InboxTransactionAbortedException(_consumerName, messageType, FailurePastEfCore);
                    }
                }

                // The consumer caught a database error that aborted the transaction: committing would roll everything
                // back and the message would be acknowledged. Run it again with EF Core's savepoints, which make a
                // failed SaveChanges harmless; if that does not help either (or the failure was past EF Core), fail the message.
                await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                if (withSavepoints || !db.Database.AutoSavepointsEnabled || ReferenceEquals(caught, FailurePastEfCore))
                {
                    throw new InboxTransactionAbortedException(_consumerName, messageType, caught);
                }

                LogRunAgainWithSavepoints(services.GetRequiredService<ILogger<InboxFilter<TConsumer, TContext>>>(), caught, _consumerName, messageType, messageId);
                withSavepoints = true;
            }
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

    /// <summary>Inserts the message's inbox row (or takes its key); false when it is there already.</summary>
    private Task<bool> TakeAsync(IInboxStatements statements, TContext db, System.Data.Common.DbTransaction transaction, string? key, Guid messageId, string? messageType, CancellationToken cancellationToken) =>
        key is not null
            ? statements.TryTakeKeyAsync(db, transaction, key, _consumerName, messageType, _time.GetUtcNow().UtcDateTime, cancellationToken)
            : statements.TryInsertAsync(db, transaction, messageId, _consumerName, messageType, _time.GetUtcNow().UtcDateTime, cancellationToken);

    /// <summary>
    /// Runs the consumer and saves what it left unsaved. Returns the database error it caught when that error left the
    /// transaction unable to commit, else null (commit). Only a consumer that caught a database error pays for a check:
    /// the inbox statement once more, which finds its own row and changes nothing, or fails in an aborted transaction.
    /// </summary>
    private async Task<Exception?> ConsumeAsync(ConsumerConsumeContext<TConsumer> context, IPipe<ConsumerConsumeContext<TConsumer>> next, IInboxStatements statements,
        TContext db, System.Data.Common.DbTransaction transaction, string? key, Guid messageId, string? messageType, bool withSavepoints, InboxInterceptorPlace place)
    {
        var savepoints = db.Database.AutoSavepointsEnabled;
        db.Database.AutoSavepointsEnabled = withSavepoints && savepoints;
        try
        {
            try
            {
                await next.Send(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (!withSavepoints && savepoints && !context.CancellationToken.IsCancellationRequested
                                       && InboxCommandFailures.Instance.FirstFailure(transaction) is { } first && !Wraps(ex, first))
            {
                // It failed after catching an earlier database error: on PostgreSQL that is what an aborted transaction
                // does to the next statement. With savepoints the first error may be harmless.
                return first;
            }

            // It caught a failed save of EF Core's with savepoints off. On PostgreSQL that aborted the transaction; on SQLite,
            // which has no aborted state, the statements of that save that ran before the failing one stayed in it, and EF Core,
            // which did not accept the save, would send them again. Either way the consumer runs again with savepoints. (Any
            // other failure it caught is checked below: on PostgreSQL it aborted the transaction too, on SQLite it left nothing.)
            if (!withSavepoints && savepoints && !context.CancellationToken.IsCancellationRequested
                && InboxCommandFailures.Instance.SaveFailed(transaction)
                && InboxCommandFailures.Instance.FirstFailure(transaction) is { } seen)
            {
                return seen;
            }

            // Where the commit cannot check (a context whose options were built without the interceptor, or with a
            // transaction interceptor after it), every message pays for the check.
            var unseen = place switch
            {
                InboxInterceptorPlace.Last => null,
                InboxInterceptorPlace.NotLast => FailurePastEfCore,
                _ => UnseenFailure,
            };
            if ((InboxCommandFailures.Instance.FirstFailure(transaction) ?? unseen) is { } caught)
            {
                try
                {
                    await TakeAsync(statements, db, transaction, key, messageId, messageType, context.CancellationToken).ConfigureAwait(false);
                }
                catch (System.Data.Common.DbException ex) when (!TransientDatabaseErrors.IsTransient(ex))
                {
                    return caught;
                }
            }

            await db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
            return null;
        }
        finally
        {
            db.Database.AutoSavepointsEnabled = savepoints;
        }
    }

    private static bool Wraps(Exception exception, Exception inner)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (ReferenceEquals(e, inner))
            {
                return true;
            }
        }

        return false;
    }

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

    [LoggerMessage(2, LogLevel.Warning, "{Consumer} caught a database error that aborted the inbox's transaction for {MessageType} {MessageId}; running it again with EF Core's savepoints")]
    private static partial void LogRunAgainWithSavepoints(ILogger logger, Exception error, string consumer, string? messageType, Guid messageId);
}
