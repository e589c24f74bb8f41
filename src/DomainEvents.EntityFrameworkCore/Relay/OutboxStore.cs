using System.Data;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>Claims, completes and cleans up outbox rows with one statement each, through the application's DbContext connection.</summary>
internal sealed class OutboxStore<TContext>
    where TContext : DbContext
{
    private readonly IServiceScopeFactory _scopeFactory;
    private OutboxSql? _sql;

    // Where the claim's scan over keys stopped (PostgreSQL): the next one starts after it.
    private volatile string _keyScanAfter = "";

    /// <summary>Whether the last claim's scan over keys stopped before the last key (PostgreSQL).</summary>
    public bool KeyScanUnfinished => _keyScanAfter.Length > 0;

    public OutboxStore(IServiceScopeFactory scopeFactory)
    {
        _scopeFactory = scopeFactory;
    }

    /// <summary>
    /// Leases up to <paramref name="batchSize"/> rows to <paramref name="owner"/> for <paramref name="lease"/>. On PostgreSQL
    /// the lease is measured on the database's clock; <paramref name="now"/> (the relay host's clock) is used only on SQLite,
    /// whose relay shares the writers' process.
    /// </summary>
    /// <returns>
    /// The leased rows in id order, and whether the claim left rows because their keys were being sent by a lease whose owner
    /// starts with <paramref name="ownerPrefix"/> (always on SQLite).
    /// </returns>
    public Task<(List<OutboxEnvelope> Rows, bool FoundBusyKeys)> ClaimAsync(string owner, string ownerPrefix, int batchSize, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithCommandAsync(sql => sql.Claim, async command =>
        {
            command.AddParameter("owner", owner);
            command.AddParameter("batch", batchSize);
            if (_sql!.IsPostgres)
            {
                command.AddParameter("lease", lease);
                command.AddParameter("after", _keyScanAfter);
                command.AddParameter("mine", ownerPrefix);
            }
            else
            {
                command.AddParameter("expires", now + lease);
                command.AddParameter("now", now);
            }

            var rows = new List<OutboxEnvelope>(batchSize);
            var foundBusyKeys = !_sql.IsPostgres;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (_sql.IsPostgres)
            {
                // The first result is the advisory lock's.
                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            }

            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (reader.IsDBNull(0))
                {
                    // The last row says where the scan over keys stopped, and whether rows were left for busy keys.
                    _keyScanAfter = reader.GetString(11);
                    foundBusyKeys = reader.GetBoolean(12);
                    continue;
                }

                rows.Add(new OutboxEnvelope(
                    reader.GetInt64(0),
                    reader.GetGuid(1),
                    reader.GetString(2),
                    reader.GetInt32(3),
                    reader.GetString(4),
                    reader.GetString(5),
                    reader.GetString(6),
                    reader.GetString(7),
                    reader.GetString(8),
                    DateTime.SpecifyKind(reader.GetDateTime(9), DateTimeKind.Utc),
                    reader.GetInt32(10)));
            }

            rows.Sort(static (a, b) => a.Id.CompareTo(b.Id));
            return (rows, foundBusyKeys);
        }, cancellationToken);

    /// <summary>
    /// Leases to <paramref name="owner"/> those of <paramref name="rows"/> (committed by this process, not yet attempted)
    /// that a claim would take now; returns their ids and message ids. The others are left for a claim.
    /// </summary>
    public Task<HashSet<(long Id, Guid MessageId)>> ClaimCommittedAsync(string owner, IReadOnlyList<OutboxEnvelope> rows, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithCommandAsync(sql => sql.ClaimCommitted(rows), async command =>
        {
            command.AddParameter("owner", owner);
            if (_sql!.IsPostgres)
            {
                command.AddParameter("lease", lease);
                command.AddParameter("ids", rows.Select(r => r.Id).ToArray());
                command.AddParameter("message_ids", rows.Select(r => r.MessageId).ToArray());
            }
            else
            {
                command.AddParameter("expires", now + lease);
                command.AddParameter("now", now);
            }

            var leased = new HashSet<(long, Guid)>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (_sql.IsPostgres)
            {
                // The first result is the advisory lock's.
                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            }

            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                leased.Add((reader.GetInt64(0), reader.GetGuid(1)));
            }

            return leased;
        }, cancellationToken);

    public Task<int> MarkProcessedAsync(IReadOnlyCollection<long> ids, string owner, DateTime now, CancellationToken cancellationToken) =>
        ids.Count == 0
            ? Task.FromResult(0)
            : WithCommandAsync(sql => sql.MarkProcessed(ids), command =>
            {
                AddIds(command, ids);
                command.AddParameter("owner", owner);
                if (!_sql!.IsPostgres)
                {
                    command.AddParameter("now", now);
                }

                return command.ExecuteNonQueryAsync(cancellationToken);
            }, cancellationToken);

    public Task<int> ReleaseAsync(IReadOnlyCollection<long> ids, string owner, CancellationToken cancellationToken) =>
        ids.Count == 0
            ? Task.FromResult(0)
            : WithCommandAsync(sql => sql.Release(ids), command =>
            {
                AddIds(command, ids);
                command.AddParameter("owner", owner);
                return command.ExecuteNonQueryAsync(cancellationToken);
            }, cancellationToken);

    /// <summary>Records a failed attempt; the next attempt is due <paramref name="backoff"/> from now (the database's now on PostgreSQL).</summary>
    public Task<int> MarkFailedAsync(long id, string owner, int attempts, bool dead, DateTime now, TimeSpan backoff, string error, CancellationToken cancellationToken) =>
        WithCommandAsync(sql => sql.MarkFailed, command =>
        {
            command.AddParameter("id", id);
            command.AddParameter("owner", owner);
            command.AddParameter("status", dead ? 2 : 0);
            command.AddParameter("attempts", attempts);
            if (_sql!.IsPostgres)
            {
                command.AddParameter("backoff", backoff);
            }
            else
            {
                command.AddParameter("next", now + backoff);
            }

            command.AddParameter("error", error.Length > 4000 ? error[..4000] : error);
            return command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public Task<int> DeleteProcessedAsync(DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
        WithCommandAsync(sql => sql.Cleanup, command =>
        {
            command.AddParameter("cutoff", cutoff);
            command.AddParameter("batch", batchSize);
            return command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    private async Task<T> WithCommandAsync<T>(Func<OutboxSql, string> text, Func<DbCommand, Task<T>> run, CancellationToken cancellationToken)
    {
        await using var scope = _scopeFactory.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TContext>();
        _sql ??= new OutboxSql(context);
        var connection = context.Database.GetDbConnection();
        var opened = false;
        if (connection.State != ConnectionState.Open)
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            opened = true;
        }

        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = text(_sql);
            return await run(command).ConfigureAwait(false);
        }
        finally
        {
            if (opened)
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
        }
    }

    private void AddIds(DbCommand command, IReadOnlyCollection<long> ids)
    {
        if (_sql!.IsPostgres)
        {
            command.AddParameter("ids", ids as long[] ?? [.. ids]);
        }
    }
}
