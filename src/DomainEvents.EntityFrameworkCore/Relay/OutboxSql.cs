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

        // PostgreSQL: lock the first pending row of each free partition (a partition whose first pending row is
        // leased, failed and waiting, or locked by another relay's claim is passed over), then take a prefix of
        // each such partition from that row on. The per-partition limit keeps a claim from reading every pending
        // row of its partitions: with H heads, a partition contributes at most batch - H + 1 rows. Only a first
        // pending row can be waiting for a retry (a failed row stays first, later rows are never tried before it),
        // so the rows after a due head are due as well.
        Claim = IsPostgres
            ? $"""
               WITH heads AS (
                   SELECT o.id, o.partition_key FROM {Table} o
                   WHERE o.status = 0 AND o.next_attempt_at <= @now
                     AND (o.lease_expires_at IS NULL OR o.lease_expires_at < @now)
                     AND NOT EXISTS (SELECT 1 FROM {Table} p WHERE p.partition_key = o.partition_key AND p.status = 0 AND p.id < o.id)
                   ORDER BY o.id
                   LIMIT @batch
                   FOR UPDATE SKIP LOCKED),
               claimed AS (
                   SELECT f.id FROM heads h
                   CROSS JOIN LATERAL (
                       SELECT o.id FROM {Table} o
                       WHERE o.status = 0 AND o.partition_key = h.partition_key AND o.id >= h.id
                       ORDER BY o.id
                       LIMIT @batch - (SELECT count(*) FROM heads) + 1) f
                   ORDER BY f.id
                   LIMIT @batch)
               UPDATE {Table} t SET lease_owner = @owner, lease_expires_at = @expires
               FROM claimed WHERE t.id = claimed.id
               RETURNING {string.Join(", ", Columns.Split(", ").Select(c => "t." + c))}
               """
            : $"""
               UPDATE {Table} SET lease_owner = @owner, lease_expires_at = @expires
               WHERE id IN (
                   SELECT o.id FROM {Table} o
                   WHERE o.status = 0 AND o.next_attempt_at <= @now
                     AND (o.lease_expires_at IS NULL OR o.lease_expires_at < @now)
                     AND NOT EXISTS (SELECT 1 FROM {Table} p WHERE p.partition_key = o.partition_key AND p.status = 0 AND p.id < o.id
                                     AND (p.next_attempt_at > @now OR p.lease_expires_at >= @now))
                   ORDER BY o.id
                   LIMIT @batch)
               RETURNING {Columns}
               """;

        MarkFailed = $"""
                      UPDATE {Table} SET status = @status, attempts = @attempts, next_attempt_at = @next, last_error = @error,
                          lease_owner = NULL, lease_expires_at = NULL
                      WHERE id = @id AND lease_owner = @owner
                      """;

        Cleanup = $"""
                   DELETE FROM {Table} WHERE id IN (
                       SELECT id FROM {Table} WHERE status = 1 AND processed_at < @cutoff ORDER BY id LIMIT @batch)
                   """;
    }

    public bool IsPostgres { get; }

    public bool IsSqlite { get; }

    public string Table { get; }

    public string Claim { get; }

    public string MarkFailed { get; }

    public string Cleanup { get; }

    /// <summary>On PostgreSQL the ids are one array parameter, <c>@ids</c>, so the text is fixed and the statement is prepared once.</summary>
    public string MarkProcessed(IEnumerable<long> ids) =>
        $"UPDATE {Table} SET status = 1, processed_at = @now, lease_owner = NULL, lease_expires_at = NULL WHERE {IdsIn(ids)} AND lease_owner = @owner";

    /// <summary>On PostgreSQL the ids are one array parameter, <c>@ids</c>.</summary>
    public string Release(IEnumerable<long> ids) =>
        $"UPDATE {Table} SET lease_owner = NULL, lease_expires_at = NULL WHERE {IdsIn(ids)} AND lease_owner = @owner";

    private string IdsIn(IEnumerable<long> ids) => IsPostgres ? "id = ANY(@ids)" : $"id IN ({string.Join(",", ids)})";

    private static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}
