using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>The relay's statements for one provider and one outbox table.</summary>
internal sealed class OutboxSql
{
    private const string Columns = "id, message_id, message_type, version, exchange, routing_key, partition_key, payload, headers, occurred_at, attempts";

    public OutboxSql(DbContext context)
    {
        var entity = context.Model.FindEntityType(typeof(OutboxMessage))
                     ?? throw new Interception.OutboxNotMappedException(context.GetType());
        IsPostgres = context.Database.IsPostgres();
        IsSqlite = context.Database.IsSqlite();
        if (!IsPostgres && !IsSqlite)
        {
            throw new NotSupportedException($"The outbox relay supports PostgreSQL and SQLite; {context.Database.ProviderName} is not supported yet.");
        }

        var schema = entity.GetSchema();
        Table = schema is null || IsSqlite ? Quote(entity.GetTableName()!) : $"{Quote(schema)}.{Quote(entity.GetTableName()!)}";

        // One claim at a time per outbox table (a transaction-scoped advisory lock taken by the first statement of
        // the batch; the claim's own statement then reads a snapshot in which every earlier claim has committed).
        // A key is claimed only when none of its pending rows holds a live lease, whatever its id: a lower id that
        // commits late, or a dead row retried by an operator, must wait until the key's leased rows are done.
        // Heads are found in two ways, so that a claim's cost follows the keys, never the depth of the backlog:
        // - a window: the first 2 x batch pending rows not under a live lease, in id order. Every earlier pending row
        //   of a row in the window is either in the window or leased (and then its key is busy), so the lowest id of
        //   each key in the window is that key's head.
        // - only when the window is full and offers fewer than a batch of free heads (a few keys with deep backlogs
        //   in front, heads backing off): every key's first pending row, by a loose scan of the (partition_key, id)
        //   index, one descent per key.
        // Free heads (due, no live lease on any row of the key) are locked (SKIP LOCKED) in id order; then a prefix
        // of each head's key is taken from the head on; the per-key limit keeps a claim from reading every pending
        // row of its keys (with H heads, a key contributes at most batch - H + 1 rows). The UPDATE re-checks status
        // and lease, so a row leased meanwhile is never taken over. Every time is the database's clock.
        ClaimLock = StableLockKey("claim:" + Table);
        CleanupLock = StableLockKey("cleanup:" + Table);
        const string free = """
                            o.status = 0 AND (o.attempts = 0 OR o.next_attempt_at <= now())
                                 AND (o.lease_expires_at IS NULL OR o.lease_expires_at < now())
                            """;
        var keyFree = $"NOT EXISTS (SELECT 1 FROM {Table} l WHERE l.partition_key = o.partition_key AND l.status = 0 AND l.lease_owner IS NOT NULL AND l.lease_expires_at >= now())";
        Claim = IsPostgres
            ? $"""
               SELECT pg_advisory_xact_lock({ClaimLock});
               WITH RECURSIVE
               win AS (
                   SELECT id, partition_key FROM {Table}
                   WHERE status = 0 AND (lease_expires_at IS NULL OR lease_expires_at < now())
                   ORDER BY id LIMIT 2 * @batch),
               free_win AS (
                   SELECT o.id, o.partition_key FROM {Table} o
                   WHERE o.id IN (SELECT min(id) FROM win GROUP BY partition_key)
                     AND {free}
                     AND {keyFree}
                   ORDER BY o.id LIMIT @batch
                   FOR UPDATE SKIP LOCKED),
               keys AS (
                   (SELECT id, partition_key FROM {Table}
                    WHERE status = 0 AND (SELECT count(*) FROM win) = 2 * @batch AND (SELECT count(*) FROM free_win) < @batch
                    ORDER BY partition_key, id LIMIT 1)
                   UNION ALL
                   SELECT n.id, n.partition_key FROM keys k CROSS JOIN LATERAL (
                       SELECT id, partition_key FROM {Table} WHERE status = 0 AND partition_key > k.partition_key
                       ORDER BY partition_key, id LIMIT 1) n),
               free_keys AS (
                   SELECT o.id, o.partition_key FROM {Table} o
                   WHERE o.id IN (SELECT id FROM keys) AND o.id > (SELECT max(id) FROM win)
                     AND {free}
                     AND {keyFree}
                   ORDER BY o.id LIMIT @batch
                   FOR UPDATE SKIP LOCKED),
               heads AS (
                   SELECT id, partition_key FROM free_win
                   UNION ALL
                   (SELECT id, partition_key FROM free_keys ORDER BY id LIMIT @batch - (SELECT count(*) FROM free_win))),
               claimed AS (
                   SELECT f.id FROM heads h
                   CROSS JOIN LATERAL (
                       SELECT o.id FROM {Table} o
                       WHERE o.status = 0 AND o.partition_key = h.partition_key AND o.id >= h.id
                       ORDER BY o.id
                       LIMIT @batch - (SELECT count(*) FROM heads) + 1) f
                   ORDER BY f.id
                   LIMIT @batch)
               UPDATE {Table} t SET lease_owner = @owner, lease_expires_at = now() + @lease
               FROM claimed WHERE t.id = claimed.id AND t.status = 0 AND (t.lease_expires_at IS NULL OR t.lease_expires_at < now())
               RETURNING {string.Join(", ", Columns.Split(", ").Select(c => "t." + c))}
               """
            : $"""
               UPDATE {Table} SET lease_owner = @owner, lease_expires_at = @expires
               WHERE id IN (
                   SELECT o.id FROM {Table} o
                   WHERE o.status = 0 AND o.next_attempt_at <= @now
                     AND (o.lease_expires_at IS NULL OR o.lease_expires_at < @now)
                     AND NOT EXISTS (SELECT 1 FROM {Table} p WHERE p.partition_key = o.partition_key AND p.status = 0 AND p.id < o.id
                                     AND p.next_attempt_at > @now)
                     AND NOT EXISTS (SELECT 1 FROM {Table} l WHERE l.partition_key = o.partition_key AND l.status = 0
                                     AND l.lease_owner IS NOT NULL AND l.lease_expires_at >= @now)
                   ORDER BY o.id
                   LIMIT @batch)
               RETURNING {Columns}
               """;

        MarkFailed = $"""
                      UPDATE {Table} SET status = @status, attempts = @attempts, next_attempt_at = {(IsPostgres ? "now() + @backoff" : "@next")}, last_error = @error,
                          lease_owner = NULL, lease_expires_at = NULL
                      WHERE id = @id AND lease_owner = @owner
                      """;

        // One relay at a time deletes (on PostgreSQL a transaction-scoped advisory lock, tried, not waited for).
        Cleanup = IsPostgres
            ? $"""
               DELETE FROM {Table} WHERE (SELECT pg_try_advisory_xact_lock({CleanupLock})) AND id IN (
                   SELECT id FROM {Table} WHERE status = 1 AND processed_at < @cutoff ORDER BY id LIMIT @batch)
               """
            : $"""
               DELETE FROM {Table} WHERE id IN (
                   SELECT id FROM {Table} WHERE status = 1 AND processed_at < @cutoff ORDER BY id LIMIT @batch)
               """;
    }

    /// <summary>The advisory lock that makes claims on this table one at a time (PostgreSQL).</summary>
    public long ClaimLock { get; }

    /// <summary>The advisory lock that makes clean-up on this table one relay at a time (PostgreSQL).</summary>
    public long CleanupLock { get; }

    public bool IsPostgres { get; }

    public bool IsSqlite { get; }

    public string Table { get; }

    public string Claim { get; }

    public string MarkFailed { get; }

    public string Cleanup { get; }

    /// <summary>On PostgreSQL the ids are one array parameter, <c>@ids</c>, so the text is fixed and the statement is prepared once.</summary>
    public string MarkProcessed(IEnumerable<long> ids) =>
        $"UPDATE {Table} SET status = 1, processed_at = {(IsPostgres ? "now()" : "@now")}, lease_owner = NULL, lease_expires_at = NULL WHERE {IdsIn(ids)} AND lease_owner = @owner";

    /// <summary>On PostgreSQL the ids are one array parameter, <c>@ids</c>.</summary>
    public string Release(IEnumerable<long> ids) =>
        $"UPDATE {Table} SET lease_owner = NULL, lease_expires_at = NULL WHERE {IdsIn(ids)} AND lease_owner = @owner";

    private string IdsIn(IEnumerable<long> ids) => IsPostgres ? "id = ANY(@ids)" : $"id IN ({string.Join(",", ids)})";

    /// <summary>A 64-bit FNV-1a hash of the text: the same key in every process, for PostgreSQL advisory locks.</summary>
    private static long StableLockKey(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return unchecked((long)hash);
    }

    private static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}
