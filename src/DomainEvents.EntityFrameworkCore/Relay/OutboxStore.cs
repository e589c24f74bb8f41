using System.Data;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Claims, completes and cleans up outbox rows, one statement each, through the application's DbContext connection:
/// the statements of the first registered <see cref="IOutboxRelayDatabase"/> that serves the context's database, or
/// the built-in PostgreSQL and SQLite ones.
/// </summary>
internal sealed class OutboxStore<TContext>
    where TContext : DbContext
{
    private readonly IServiceScopeFactory _scopeFactory;
    private IOutboxRelayStatements? _statements;
    private volatile bool _moreKeysToScan;

    public OutboxStore(IServiceScopeFactory scopeFactory)
    {
        _scopeFactory = scopeFactory;
    }

    /// <summary>Whether the last claim left keys past those it read (its scan over keys stopped before the last key, or it filled the batch without one).</summary>
    public bool KeyScanUnfinished => _moreKeysToScan;

    /// <summary>
    /// Leases up to <paramref name="batchSize"/> rows to <paramref name="owner"/> for <paramref name="lease"/>. On PostgreSQL
    /// the lease is measured on the database's clock; <paramref name="now"/> (the relay host's clock) is used only on SQLite,
    /// whose relay shares the writers' process.
    /// </summary>
    /// <returns>
    /// The leased rows in id order, and whether the claim left rows because their keys were being sent by a lease whose owner
    /// starts with <paramref name="ownerPrefix"/> (always on SQLite).
    /// </returns>
    public Task<(IReadOnlyList<OutboxEnvelope> Rows, bool FoundBusyKeys)> ClaimAsync(string owner, string ownerPrefix, int batchSize, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithConnectionAsync(async (statements, connection) =>
        {
            var claim = await statements.ClaimAsync(connection, new OutboxClaimRequest(owner, ownerPrefix, batchSize, now, lease), cancellationToken).ConfigureAwait(false);
            _moreKeysToScan = claim.MoreKeysToScan;

            // Each key's rows go out in the order of this list: put in id order here, whatever order the statement returned.
            var rows = claim.Rows as List<OutboxEnvelope> ?? [.. claim.Rows];
            rows.Sort(static (a, b) => a.Id.CompareTo(b.Id));
            return ((IReadOnlyList<OutboxEnvelope>)rows, claim.FoundBusyKeys);
        }, cancellationToken);

    /// <summary>Whether a claim now could find anything (<see cref="IOutboxRelayStatements.MayClaimAsync"/>); no lease is taken.</summary>
    public Task<bool> MayClaimAsync(string owner, string ownerPrefix, int batchSize, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.MayClaimAsync(connection, new OutboxClaimRequest(owner, ownerPrefix, batchSize, now, lease), cancellationToken), cancellationToken);

    /// <summary>
    /// Leases to <paramref name="owner"/> those of <paramref name="rows"/> (committed by this process, not yet attempted)
    /// that a claim would take now; returns their ids and message ids. The others are left for a claim.
    /// </summary>
    public Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(string owner, IReadOnlyList<OutboxEnvelope> rows, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.ClaimCommittedAsync(connection, new OutboxClaimRequest(owner, owner, rows.Count, now, lease), rows, cancellationToken), cancellationToken);

    public Task<int> MarkProcessedAsync(IReadOnlyCollection<long> ids, string owner, DateTime now, CancellationToken cancellationToken) =>
        ids.Count == 0
            ? Task.FromResult(0)
            : WithConnectionAsync((statements, connection) => statements.MarkProcessedAsync(connection, owner, ids, now, cancellationToken), cancellationToken);

    public Task<int> ReleaseAsync(IReadOnlyCollection<long> ids, string owner, CancellationToken cancellationToken) =>
        ids.Count == 0
            ? Task.FromResult(0)
            : WithConnectionAsync((statements, connection) => statements.ReleaseAsync(connection, owner, ids, cancellationToken), cancellationToken);

    /// <summary>Records a failed attempt; the next attempt is due <paramref name="backoff"/> from now (the database's now on PostgreSQL).</summary>
    public Task<int> MarkFailedAsync(long id, string owner, int attempts, bool dead, DateTime now, TimeSpan backoff, string error, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.MarkFailedAsync(connection, new OutboxFailedAttempt(id, owner, attempts, dead, now, backoff, RelayTable.Stored(error)), cancellationToken), cancellationToken);

    public Task<int> DeleteProcessedAsync(DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.DeleteProcessedAsync(connection, cutoff, batchSize, cancellationToken), cancellationToken);

    private async Task<T> WithConnectionAsync<T>(Func<IOutboxRelayStatements, DbConnection, Task<T>> run, CancellationToken cancellationToken)
    {
        await using var scope = _scopeFactory.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TContext>();
        // One instance per store, even when two batches ask at once: an instance may keep state between claims.
        var statements = Volatile.Read(ref _statements);
        if (statements is null)
        {
            Interlocked.CompareExchange(ref _statements, StatementsFor(context, scope.ServiceProvider), null);
            statements = Volatile.Read(ref _statements)!;
        }
        var connection = context.Database.GetDbConnection();
        var opened = false;
        if (connection.State != ConnectionState.Open)
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            opened = true;
        }

        try
        {
            return await run(statements, connection).ConfigureAwait(false);
        }
        finally
        {
            if (opened)
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
        }
    }

    private static IOutboxRelayStatements StatementsFor(TContext context, IServiceProvider services) =>
        services.GetServices<IOutboxRelayDatabase>().Select(d => d.For(context)).FirstOrDefault(s => s is not null)
        ?? RelayTable.BuiltIn(context)
        ?? throw new NotSupportedException(
            $"The outbox relay has statements for PostgreSQL and SQLite; {context.Database.ProviderName} needs an IOutboxRelayDatabase of its own (registered as a singleton).");
}
