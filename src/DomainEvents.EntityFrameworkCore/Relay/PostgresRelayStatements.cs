using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>The relay's statements on PostgreSQL: times from the database's clock, advisory locks for claims and clean-up, ids as arrays.</summary>
internal sealed class PostgresRelayStatements : IOutboxRelayStatements
{
    /// <inheritdoc />
    /// <remarks>Every statement here ends its own transaction, and its locks and settings with it.</remarks>
    public bool ConnectionsCanBeKept => true;

    /// <summary>How many keys past the window a claim's loose scan reads at most, per row of the batch.</summary>
    public const int KeyScanFactor = 4;

    private const string Columns = RelayTable.Columns;
    private readonly string _claim;
    private readonly string _claimWithoutScan;
    private readonly string _claimCommitted;
    private readonly string _mayClaim;
    private readonly string _markProcessed;
    private readonly string _release;
    private readonly string _markFailed;
    private readonly string _cleanup;

    // Where the claim's scan over keys stopped: the next one starts after it.
    private string _keyScanAfter = "";

    // Whether the next claim scans over keys: its condition held in the last claim, or the last scan stopped before the
    // last key. A relay's first claim scans, whatever the backlog.
    private volatile bool _scanNeeded = true;

    public PostgresRelayStatements(DbContext context)
    {
        var table = RelayTable.NameOf(context, withSchema: true);
        // One claim at a time per outbox table (a transaction-scoped advisory lock taken by the first statement of
        // the batch; the claim's own statement then reads a snapshot in which every earlier claim has committed).
        // A key is claimed only when none of its pending rows holds a live lease, whatever its id: a lower id that
        // commits late, or a dead row retried by an operator, must wait until the key's leased rows are done.
        // Heads are found in two ways, so that a claim's cost is bounded whatever the shape of the backlog:
        // - a window: the first batch pending rows not under a live lease, in id order. Every earlier pending row of
        //   a row in the window is either in the window or leased (and then its key is busy), so the lowest id of each
        //   key in the window is that key's head, and a window whose keys are all free fills the batch.
        // - only when the window is full and its free keys have fewer than a batch of rows in it (the front of the
        //   table is keys whose heads back off, or deep backlogs of busy keys): the first pending row of each of at
        //   most KeyScanFactor x batch keys past it, by a loose scan of the (partition_key, id) index, one descent per
        //   key, starting after the key where the previous scan of this relay stopped (@after), so that every key is
        //   reached in turn however many are blocked. The statement returns where this scan stopped in a last row
        //   whose id is NULL ('' when it reached the last key or did not run, so the next scan starts from the first).
        //   That row also says whether the claim left rows for keys that this relay is sending (@mine is the prefix of its
        //   lease owners; leases of @owner, this claim's, are not counted): a due head in the window, or a key of the scan,
        //   with a live lease of this relay. The relay then claims again when its batches free keys. Keys that other
        //   relays are sending are theirs to free. And it says whether the scan's condition held (scan_needed), which
        //   decides whether the next claim is sent with the scan.
        // Free heads (due, no live lease on any row of the key) are taken in id order; then a prefix of each head's key
        // from the head on; the per-key limit keeps a claim from reading every pending row of its keys (with H heads,
        // a key contributes at most take - H + 1 rows). @take is the number of rows to lease, @batch the batch size,
        // which sets the window and the scan's reach; they differ only for the claim that completes a batch. Rows are
        // not locked while they are chosen: the claims take turns, and the UPDATE re-checks status and lease (after
        // waiting for a row another relay is marking, whose lease ran out), so a row leased or finished meanwhile is never
        // taken over. Every time is the database's clock, and "a live lease" is one predicate everywhere:
        // lease_owner IS NOT NULL AND lease_expires_at >= now().
        // JIT is off for the claim's transaction: on a large table the planner's estimates pass jit_above_cost, and
        // compiling took 60 ms of a 80 ms claim that runs in 20 ms without it (1,000,000 pending rows, PostgreSQL 15).
        // Written with the invariant culture: some cultures write the minus sign of a negative key as U+2212, which is no SQL.
        var claimLock = StableLockKey("claim:" + table).ToString(CultureInfo.InvariantCulture);
        var cleanupLock = StableLockKey("cleanup:" + table).ToString(CultureInfo.InvariantCulture);

        // "lease_owner IS NOT NULL" is also the filter of the index on leased rows, which the key-busy probe uses.
        static string Live(string row) => $"({row}.lease_owner IS NOT NULL AND {row}.lease_expires_at >= now())";
        var notLeased = $"NOT {Live("o")}";
        var free = $"o.status = 0 AND (o.attempts = 0 OR o.next_attempt_at <= now()) AND {notLeased}";
        // Both probes are a look-up in the index on leased rows for each row they are asked about (at most a batch of rows of
        // the window, or the keys of the scan). OFFSET 0 keeps PostgreSQL from turning them into a join, whose method follows
        // the statistics: taken while few rows were leased (an outbox filled after its last ANALYZE), they made it read the
        // leased rows once and compare every head with every one of them, 250,000 comparisons for a claim of 500 rows beside
        // another batch of 500 in flight (54 of a 70 ms claim).
        string Mine(string row) => $"EXISTS (SELECT 1 FROM {table} l WHERE l.partition_key = {row}.partition_key AND l.status = 0 AND {Live("l")} AND starts_with(l.lease_owner, @mine) AND l.lease_owner <> @owner OFFSET 0)";
        string KeyFree(string row) => $"NOT EXISTS (SELECT 1 FROM {table} l WHERE l.partition_key = {row}.partition_key AND l.status = 0 AND {Live("l")} OFFSET 0)";
        // Whether the window leaves the batch short of rows, so that a claim scans over keys past it.
        const string ScanNeeded = "(SELECT count(*) FROM win) = @batch AND (SELECT count(*) FROM win WHERE partition_key IN (SELECT partition_key FROM free_win)) < @batch";
        var columns = Columns.Split(", ");
        string Claim(bool scan) => $"""
               SELECT pg_advisory_xact_lock({claimLock}), set_config('jit', 'off', true);
               WITH RECURSIVE
               win AS (
                   SELECT o.id, o.partition_key, (o.attempts = 0 OR o.next_attempt_at <= now()) AS due FROM {table} o
                   WHERE o.status = 0 AND {notLeased}
                   ORDER BY o.id LIMIT @batch),
               free_win AS (
                   SELECT o.id, o.partition_key FROM win o
                   WHERE o.id IN (SELECT min(id) FROM win GROUP BY partition_key) AND o.due
                     AND {KeyFree("o")}
                   ORDER BY o.id),
               {(scan ? $"""
               keys AS (
                   (SELECT 1 AS n, id, partition_key FROM {table}
                    WHERE status = 0 AND partition_key > @after
                      AND {ScanNeeded}
                    ORDER BY partition_key, id LIMIT 1)
                   UNION ALL
                   SELECT k.n + 1, x.id, x.partition_key FROM keys k CROSS JOIN LATERAL (
                       SELECT id, partition_key FROM {table} WHERE status = 0 AND partition_key > k.partition_key
                       ORDER BY partition_key, id LIMIT 1) x
                   WHERE k.n < {KeyScanFactor} * @batch),
               free_keys AS (
                   SELECT o.id, o.partition_key FROM {table} o
                   WHERE o.id IN (SELECT id FROM keys) AND o.id > (SELECT max(id) FROM win)
                     AND {free}
                     AND {KeyFree("o")}
                   ORDER BY o.id LIMIT @take - (SELECT count(*) FROM free_win)),
               heads AS (
                   SELECT id, partition_key FROM free_win
                   UNION ALL
                   SELECT id, partition_key FROM free_keys),
               """ : """
               heads AS (
                   SELECT id, partition_key FROM free_win),
               """)}
               claimed AS (
                   SELECT f.id FROM heads h
                   CROSS JOIN LATERAL (
                       SELECT o.id FROM {table} o
                       WHERE o.status = 0 AND o.partition_key = h.partition_key AND o.id >= h.id
                       ORDER BY o.id
                       LIMIT @take - (SELECT count(*) FROM heads) + 1) f
                   ORDER BY f.id
                   LIMIT @take),
               leased AS (
                   UPDATE {table} t SET lease_owner = @owner, lease_expires_at = now() + @lease
                   FROM claimed WHERE t.id = claimed.id AND t.status = 0 AND NOT {Live("t")}
                   RETURNING {string.Join(", ", columns.Select(c => "t." + c))})
               SELECT {Columns}, NULL::text AS scan_end, NULL::boolean AS busy, NULL::boolean AS scan_needed FROM leased
               UNION ALL
               SELECT {string.Join(", ", columns.Select(_ => "NULL"))},
                      {(scan ? $"CASE WHEN (SELECT count(*) FROM keys) = {KeyScanFactor} * @batch THEN (SELECT max(partition_key) FROM keys) ELSE '' END" : "''")},
                      EXISTS (SELECT 1 FROM win o WHERE o.id IN (SELECT min(id) FROM win GROUP BY partition_key) AND o.due AND {Mine("o")})
                      {(scan ? $"OR EXISTS (SELECT 1 FROM keys o WHERE {Mine("o")})" : "")},
                      {ScanNeeded}
               """;

        // Planning the scan over keys takes about as long as the rest of the claim (0.4 of 1.0 ms on a warm connection, and
        // several times that on a busy machine), all of it under the claim's lock, which the leases of rows committed in this
        // process wait for. So a claim leaves that part out while the claim before it did not need it: with the scan's
        // condition false the two statements take the same rows. A claim without the scan that finds the condition true
        // is followed at once by a claim with it, for the rest of the batch (ClaimAsync).
        _claim = Claim(scan: true);
        _claimWithoutScan = Claim(scan: false);

        // Whether a claim would find anything: its window read alone, without the claims' lock. A claim takes rows and reports
        // keys busy only for due rows of its window, and scans past the window only when the window is full; so with the
        // window short of a batch and no due row in it, a claim leases nothing and reports nothing. JIT is off, as for the claim.
        _mayClaim = $"""
               SELECT set_config('jit', 'off', true);
               SELECT count(*) = @batch OR COALESCE(bool_or(w.due), false) FROM (
                   SELECT (o.attempts = 0 OR o.next_attempt_at <= now()) AS due FROM {table} o
                   WHERE o.status = 0 AND {notLeased}
                   ORDER BY o.id LIMIT @batch) w
               """;

        // Rows this process has just committed, handed to its relay: the same rules as a claim (one claim at a time, a
        // key with a live lease anywhere is busy, a lower pending row of the key goes first unless this statement leases
        // it too: it is in the set and has no failed attempt), but no search. A row is matched by id and message id, so a
        // commit made against another database (a tenant's) never leases a row of this one, nor lets one pass.
        // "No failed attempt" is read from the statement's snapshot, in a list made once: PostgreSQL checks a row that another
        // transaction changed meanwhile again on its new version, but not the rows of its key judged before. So a row that
        // another relay, whose lease ran out, marks failed while this runs is still leased with the rows after it and goes
        // first, as a claim over the table would send it, instead of being left out while a later row of its key went.
        _claimCommitted = $"""
               SELECT pg_advisory_xact_lock({claimLock});
               UPDATE {table} t SET lease_owner = @owner, lease_expires_at = now() + @lease
               FROM unnest(@ids, @message_ids) AS c(id, message_id)
               WHERE t.id = c.id AND t.message_id = c.message_id AND t.status = 0 AND NOT {Live("t")}
                 AND t.id = ANY(ARRAY(SELECT n.id FROM {table} n WHERE n.id = ANY(@ids) AND n.attempts = 0))
                 AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.partition_key = t.partition_key AND p.status = 0 AND p.id < t.id
                                 AND NOT (p.attempts = 0 AND (p.id, p.message_id) IN (SELECT * FROM unnest(@ids, @message_ids))))
                 AND {KeyFree("t")}
               RETURNING t.id, t.message_id
               """;

        _markFailed = $"""
                      UPDATE {table} SET status = @status, attempts = @attempts, next_attempt_at = now() + @backoff, last_error = @error,
                          lease_owner = NULL, lease_expires_at = NULL
                      WHERE id = @id AND lease_owner = @owner
                      """;
        _markProcessed = $"UPDATE {table} SET status = 1, processed_at = now(), lease_owner = NULL, lease_expires_at = NULL WHERE id = ANY(@ids) AND lease_owner = @owner";
        _release = $"UPDATE {table} SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ANY(@ids) AND lease_owner = @owner";

        // One relay at a time deletes (a transaction-scoped advisory lock, tried, not waited for).
        _cleanup = $"""
                   DELETE FROM {table} WHERE (SELECT pg_try_advisory_xact_lock({cleanupLock})) AND id IN (
                       SELECT id FROM {table} WHERE status = 1 AND processed_at < @cutoff ORDER BY id LIMIT @batch)
                   """;
    }

    /// <summary>The claim's statement after its first one (the lock, and JIT off): with the scan over keys, or without it.</summary>
    internal string ClaimStatement(bool scan)
    {
        var text = scan ? _claim : _claimWithoutScan;
        return text[(text.IndexOf(';', StringComparison.Ordinal) + 1)..];
    }

    public async Task<OutboxClaim> ClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken)
    {
        if (_scanNeeded)
        {
            var claim = await ClaimAsync(connection, request, scan: true, request.BatchSize, cancellationToken).ConfigureAwait(false);
            return new OutboxClaim(claim.Rows, claim.FoundBusyKeys, _keyScanAfter.Length > 0);
        }

        // A full batch, or a short one when the scan's condition is false, is what the whole claim would have taken.
        var (rows, foundBusyKeys, scanNeeded) = await ClaimAsync(connection, request, scan: false, request.BatchSize, cancellationToken).ConfigureAwait(false);
        if (!scanNeeded || rows.Count >= request.BatchSize)
        {
            return new OutboxClaim(rows, foundBusyKeys, MoreKeysToScan: scanNeeded);
        }

        // The window's free keys left the batch short: the rest of it is looked for past the window now, by a claim of its
        // own with the batch's window and reach. It runs after this one has committed, so it sees the keys just leased as
        // busy (they do not count as this relay's busy keys: the lease owner is the same) and takes other keys only. Its
        // rows join these, in one batch.
        (List<OutboxEnvelope> Rows, bool FoundBusyKeys, bool ScanNeeded) more;
        try
        {
            more = await ClaimAsync(connection, request, scan: true, request.BatchSize - rows.Count, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (rows.Count > 0)
        {
            // The rows leased above are committed: they are sent, not left under a lease nobody will use until it runs
            // out. The next claim scans and meets the failure again if it lasts; the relay reports it then.
            return new OutboxClaim(rows, foundBusyKeys, MoreKeysToScan: true);
        }

        rows.AddRange(more.Rows);
        return new OutboxClaim(rows, foundBusyKeys || more.FoundBusyKeys, _keyScanAfter.Length > 0);
    }

    private async Task<(List<OutboxEnvelope> Rows, bool FoundBusyKeys, bool ScanNeeded)> ClaimAsync(DbConnection connection, OutboxClaimRequest request, bool scan, int take, CancellationToken cancellationToken)
    {
        await using var command = scan
            ? RelayTable.Command(connection, _claim,
                ("owner", request.Owner), ("batch", request.BatchSize), ("take", take), ("lease", request.Lease), ("after", _keyScanAfter), ("mine", request.OwnerPrefix))
            : RelayTable.Command(connection, _claimWithoutScan,
                ("owner", request.Owner), ("batch", request.BatchSize), ("take", take), ("lease", request.Lease), ("mine", request.OwnerPrefix));
        var rows = new List<OutboxEnvelope>(request.BatchSize);
        var foundBusyKeys = false;
        var scanNeeded = false;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);

        // The first result is the advisory lock's.
        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.IsDBNull(0))
            {
                // The last row says where the scan over keys stopped, whether rows were left for busy keys, and whether
                // the window left the batch short, so that the next claim scans over keys.
                if (scan)
                {
                    _keyScanAfter = reader.GetString(11);
                }

                foundBusyKeys = reader.GetBoolean(12);
                scanNeeded = reader.GetBoolean(13);
                continue;
            }

            rows.Add(RelayTable.Read(reader));
        }

        // A claim without the scan runs only once the last scan reached the last key, so _keyScanAfter is '' then.
        _scanNeeded = scanNeeded || _keyScanAfter.Length > 0;
        return (rows, foundBusyKeys, scanNeeded);
    }

    public async Task<bool> MayClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken)
    {
        await using var command = RelayTable.Command(connection, _mayClaim, ("batch", request.BatchSize));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);

        // The first result is the setting's.
        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetBoolean(0);
    }

    public async Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(DbConnection connection, OutboxClaimRequest request, IReadOnlyList<OutboxEnvelope> rows, CancellationToken cancellationToken)
    {
        await using var command = RelayTable.Command(connection, _claimCommitted,
            ("owner", request.Owner), ("lease", request.Lease), ("ids", rows.Select(r => r.Id).ToArray()), ("message_ids", rows.Select(r => r.MessageId).ToArray()));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);

        // The first result is the advisory lock's.
        await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        return await RelayTable.ReadLeasedAsync(reader, cancellationToken).ConfigureAwait(false);
    }

    public Task<int> MarkProcessedAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, DateTime now, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, _markProcessed, cancellationToken, ("ids", ids as long[] ?? [.. ids]), ("owner", owner));

    public Task<int> ReleaseAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, _release, cancellationToken, ("ids", ids as long[] ?? [.. ids]), ("owner", owner));

    public Task<int> MarkFailedAsync(DbConnection connection, OutboxFailedAttempt attempt, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, _markFailed, cancellationToken,
            ("id", attempt.Id), ("owner", attempt.Owner), ("status", attempt.Dead ? 2 : 0), ("attempts", attempt.Attempts), ("backoff", attempt.Backoff), ("error", attempt.Error));

    public Task<int> DeleteProcessedAsync(DbConnection connection, DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
        RelayTable.ExecuteAsync(connection, _cleanup, cancellationToken, ("cutoff", cutoff), ("batch", batchSize));

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
}
