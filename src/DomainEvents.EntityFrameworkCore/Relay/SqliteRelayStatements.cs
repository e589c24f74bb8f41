using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The relay's statements on SQLite, whose relay shares the writers' process: times from the relay host's clock (the
/// request's <c>Now</c>), ids as literals. A row never attempted is due whatever its <c>next_attempt_at</c> (the time it
/// was written), so a clock set back does not hold new rows. SQLite runs one writer at a time, so claims take turns by themselves.
/// </summary>
internal sealed class SqliteRelayStatements : IOutboxRelayStatements
{
    /// <inheritdoc />
    /// <remarks>Every statement here ends its own transaction, and its locks and settings with it.</remarks>
    public bool ConnectionsCanBeKept => true;

    private const string Columns = RelayTable.Columns;
    private readonly string _table;
    private readonly string _claim;
    private readonly string _claimCommitted;
    private readonly string _markFailed;
    private readonly string _cleanup;

    public SqliteRelayStatements(DbContext context)
    {
        var table = RelayTable.NameOf(context, withSchema: false);
        _table = table;
        static string Live(string row) => $"({row}.lease_owner IS NOT NULL AND {row}.lease_expires_at >= @now)";
        string KeyFree(string row) => $"NOT EXISTS (SELECT 1 FROM {table} l WHERE l.partition_key = {row}.partition_key AND l.status = 0 AND {Live("l")})";
        _claim = $"""
               UPDATE {table} SET lease_owner = @owner, lease_expires_at = @expires
               WHERE id IN (
                   SELECT o.id FROM {table} o
                   WHERE o.status = 0 AND (o.attempts = 0 OR o.next_attempt_at <= @now)
                     AND NOT {Live("o")}
                     AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.partition_key = o.partition_key AND p.status = 0 AND p.id < o.id
                                     AND p.attempts > 0 AND p.next_attempt_at > @now)
                     AND {KeyFree("o")}
                   ORDER BY o.id
                   LIMIT @batch)
               RETURNING {Columns}
               """;
        _claimCommitted = $"""
               UPDATE {table} SET lease_owner = @owner, lease_expires_at = @expires
               WHERE status = 0 AND attempts = 0 AND NOT {Live(table)}
                 AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.partition_key = {table}.partition_key AND p.status = 0
                                 AND p.id < {table}.id AND NOT (p.attempts = 0 AND (p.id, p.message_id) IN (SELECT column1, column2 FROM committed)))
                 AND {KeyFree(table)}
                 AND (id, message_id) IN (SELECT column1, column2 FROM committed)
               RETURNING id, message_id
               """;
        _markFailed = $"""
                      UPDATE {table} SET status = @status, attempts = @attempts, next_attempt_at = @next, last_error = @error,
                          lease_owner = NULL, lease_expires_at = NULL
                      WHERE id = @id AND lease_owner = @owner
                      """;
        _cleanup = $"""
                   DELETE FROM {table} WHERE id IN (
                       SELECT id FROM {table} WHERE status = 1 AND processed_at < @cutoff ORDER BY id LIMIT @batch)
                   """;
    }

    public async Task<OutboxClaim> ClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken)
    {
        await using var command = RelayTable.Command(connection, _claim,
            ("owner", request.Owner), ("batch", request.BatchSize), ("expires", request.Now + request.Lease), ("now", request.Now));
        var rows = new List<OutboxEnvelope>(request.BatchSize);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(RelayTable.Read(reader));
        }

        // The statement cannot tell whether it left rows for keys this relay is sending: it says so, and the relay claims again.
        return new OutboxClaim(rows, FoundBusyKeys: true, MoreKeysToScan: false);
    }

    public async Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(DbConnection connection, OutboxClaimRequest request, IReadOnlyList<OutboxEnvelope> rows, CancellationToken cancellationToken)
    {
        var committed = $"WITH committed(column1, column2) AS (VALUES {string.Join(", ", rows.Select(r => $"({r.Id}, '{r.MessageId.ToString().ToUpperInvariant()}')"))})\n{_claimCommitted}";
        await using var command = RelayTable.Command(connection, committed, ("owner", request.Owner), ("expires", request.Now + request.Lease), ("now", request.Now));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await RelayTable.ReadLeasedAsync(reader, cancellationToken).ConfigureAwait(false);
    }

    public Task<int> MarkProcessedAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, DateTime now, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, $"UPDATE {_table} SET status = 1, processed_at = @now, lease_owner = NULL, lease_expires_at = NULL WHERE id IN ({string.Join(",", ids)}) AND lease_owner = @owner", cancellationToken, ("owner", owner), ("now", now));

    public Task<int> ReleaseAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, $"UPDATE {_table} SET lease_owner = NULL, lease_expires_at = NULL WHERE id IN ({string.Join(",", ids)}) AND lease_owner = @owner", cancellationToken, ("owner", owner));

    public Task<int> MarkFailedAsync(DbConnection connection, OutboxFailedAttempt attempt, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, _markFailed, cancellationToken,
            ("id", attempt.Id), ("owner", attempt.Owner), ("status", attempt.Dead ? 2 : 0), ("attempts", attempt.Attempts), ("next", attempt.Now + attempt.Backoff), ("error", attempt.Error));

    public Task<int> DeleteProcessedAsync(DbConnection connection, DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, _cleanup, cancellationToken, ("cutoff", cutoff), ("batch", batchSize));
}
