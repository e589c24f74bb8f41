using System.Data.Common;
using System.Runtime.CompilerServices;
using DomainEvents.EntityFrameworkCore.Inbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The first command that failed in each transaction of an inbox's context. On PostgreSQL a failed statement aborts
/// the whole transaction unless it ran in a savepoint, and a COMMIT then rolls back without an error: a consumer that
/// catches such an error and returns would have its message acknowledged with nothing committed. The inbox asks here
/// before it commits; only then does it pay for a check. A command that failed or was cancelled counts, and so does a
/// failed or cancelled SaveChanges (whose error may surface while EF Core reads a batch's results, past the command).
/// A command sent past EF Core (ADO.NET or Dapper on the context's connection) is not seen: for those the inbox commits
/// through <see cref="IInboxStatements.CommitAsync"/>, which finds an aborted transaction in the COMMIT's own round trip;
/// this interceptor puts that commit in the place of EF Core's, so that the other interceptors see a commit as usual.
/// </summary>
internal sealed class InboxCommandFailures : DbCommandInterceptor, ISaveChangesInterceptor, IDbTransactionInterceptor
{
    /// <summary>The one instance, added to every inbox context's options.</summary>
    public static readonly InboxCommandFailures Instance = new();

    private readonly ConditionalWeakTable<DbTransaction, Exception> _first = new();
    private readonly ConditionalWeakTable<DbTransaction, IInboxStatements> _commits = new();
    private readonly ConditionalWeakTable<DbTransaction, object> _failedSaves = new();

    private InboxCommandFailures()
    {
    }

    /// <summary>
    /// Where the instance is among <paramref name="context"/>'s interceptors. Only when no transaction interceptor follows
    /// it may it commit in EF Core's place: one that followed would find the transaction committed while it expected it
    /// open (EF Core calls them in the order they were added).
    /// </summary>
    public static InboxInterceptorPlace PlaceIn(DbContext context)
    {
        var interceptors = context.GetService<IDbContextOptions>().FindExtension<CoreOptionsExtension>()?.Interceptors;
        if (interceptors is null)
        {
            return InboxInterceptorPlace.Absent;
        }

        var place = InboxInterceptorPlace.Absent;
        foreach (var interceptor in interceptors)
        {
            if (ReferenceEquals(interceptor, Instance))
            {
                place = InboxInterceptorPlace.Last;
            }
            else if (place == InboxInterceptorPlace.Last && interceptor is IDbTransactionInterceptor)
            {
                return InboxInterceptorPlace.NotLast;
            }
        }

        return place;
    }

    /// <summary>
    /// Commits <paramref name="transaction"/> through <paramref name="statements"/>' <see cref="IInboxStatements.CommitAsync"/>
    /// when EF Core commits it (only where <see cref="PlaceIn"/> is <see cref="InboxInterceptorPlace.Last"/>). Throws <see cref="InboxCommitAbortedException"/> from
    /// EF Core's commit when the transaction had been aborted: nothing is committed and the transaction is still open.
    /// </summary>
    public async Task CommitCheckedAsync(IDbContextTransaction transaction, IInboxStatements statements, CancellationToken cancellationToken)
    {
        var dbTransaction = transaction.GetDbTransaction();
        _commits.AddOrUpdate(dbTransaction, statements);
        try
        {
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _commits.Remove(dbTransaction);
        }
    }

    /// <inheritdoc />
    public async ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        if (result.IsSuppressed || !_commits.TryGetValue(transaction, out var statements))
        {
            return result;
        }

        if (!await statements.CommitAsync(transaction, cancellationToken).ConfigureAwait(false))
        {
            throw new InboxCommitAbortedException();
        }

        return InterceptionResult.Suppress();
    }

    /// <summary>The first error of a command in <paramref name="transaction"/> since <see cref="Forget"/>, if any.</summary>
    public Exception? FirstFailure(DbTransaction transaction) => _first.TryGetValue(transaction, out var error) ? error : null;

    /// <summary>Whether a SaveChanges failed or was cancelled in <paramref name="transaction"/> since <see cref="Forget"/>.</summary>
    public bool SaveFailed(DbTransaction transaction) => _failedSaves.TryGetValue(transaction, out _);

    /// <summary>Starts over for a new transaction (a provider may reuse its transaction objects).</summary>
    public void Forget(DbTransaction transaction)
    {
        if (_first.TryGetValue(transaction, out _))
        {
            _first.Remove(transaction);
        }

        _failedSaves.Remove(transaction);
    }

    /// <inheritdoc />
    public override void CommandFailed(DbCommand command, CommandErrorEventData eventData) => Record(command.Transaction, eventData.Exception);

    /// <inheritdoc />
    public override Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Record(command.Transaction, eventData.Exception);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override void CommandCanceled(DbCommand command, CommandEndEventData eventData) => Record(command.Transaction, Canceled(command));

    /// <inheritdoc />
    public override Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Record(command.Transaction, Canceled(command));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void SaveChangesFailed(DbContextErrorEventData eventData) => RecordSave(TransactionOf(eventData.Context), eventData.Exception);

    /// <inheritdoc />
    public Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        RecordSave(TransactionOf(eventData.Context), eventData.Exception);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void SaveChangesCanceled(DbContextEventData eventData) => RecordSave(TransactionOf(eventData.Context), new OperationCanceledException("SaveChanges was cancelled."));

    /// <inheritdoc />
    public Task SaveChangesCanceledAsync(DbContextEventData eventData, CancellationToken cancellationToken = default)
    {
        SaveChangesCanceled(eventData);
        return Task.CompletedTask;
    }

    private static DbTransaction? TransactionOf(DbContext? context) => context?.Database.CurrentTransaction?.GetDbTransaction();

    private static OperationCanceledException Canceled(DbCommand command) => new($"A command was cancelled: {command.CommandText}");

    private void RecordSave(DbTransaction? transaction, Exception error)
    {
        Record(transaction, error);
        if (transaction is not null)
        {
            _failedSaves.AddOrUpdate(transaction, error);
        }
    }

    private void Record(DbTransaction? transaction, Exception error)
    {
        if (transaction is not null)
        {
            _first.TryAdd(transaction, error);
        }
    }
}
