using System.Collections.Concurrent;
using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.ThirdPartyDatabase;

/// <summary>
/// A relay provider for SQLite written from the public contract only, and simpler than the built-in one: a claim
/// leases each free key's head alone (the next row of a key waits for the next claim), and rows committed in the
/// process are left to claims. It counts the statements it ran, so a test can see that the relay used it.
/// </summary>
public sealed class OneHeadPerKeySqlite : IOutboxRelayDatabase
{
    /// <summary>The statements each kind ran, by name.</summary>
    public ConcurrentDictionary<string, int> Calls { get; } = new();

    /// <inheritdoc />
    public IOutboxRelayStatements? For(DbContext context) =>
        context.Database.ProviderName == "Microsoft.EntityFrameworkCore.Sqlite"
            ? new Statements(context.Model.FindEntityType(typeof(OutboxMessage))!.GetTableName()!, Calls)
            : null;

    private sealed class Statements(string table, ConcurrentDictionary<string, int> calls) : IOutboxRelayStatements
    {
        private const string Live = "lease_owner IS NOT NULL AND lease_expires_at >= @now";

        public async Task<OutboxClaim> ClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken)
        {
            Count("claim");
            await using var command = Command(connection, $"""
                UPDATE "{table}" SET lease_owner = @owner, lease_expires_at = @expires
                WHERE id IN (
                    SELECT o.id FROM "{table}" o
                    JOIN (SELECT min(id) AS id FROM "{table}" WHERE status = 0 GROUP BY partition_key HAVING NOT max({Live})) head ON head.id = o.id
                    WHERE o.attempts = 0 OR o.next_attempt_at <= @now
                    ORDER BY o.id LIMIT @batch)
                RETURNING id, message_id, message_type, version, exchange, routing_key, partition_key, payload, headers, occurred_at, attempts
                """, ("owner", request.Owner), ("expires", request.Now + request.Lease), ("now", request.Now), ("batch", request.BatchSize));
            var rows = new List<OutboxEnvelope>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new OutboxEnvelope(
                    reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4), reader.GetString(5),
                    reader.GetString(6), reader.GetString(7), reader.GetString(8), DateTime.SpecifyKind(reader.GetDateTime(9), DateTimeKind.Utc), reader.GetInt32(10)));
            }

            // Keys with more rows wait for the next claim: say so, and the relay claims again.
            return new OutboxClaim([.. rows.OrderBy(r => r.Id)], FoundBusyKeys: true, MoreKeysToScan: false);
        }

        public Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(DbConnection connection, OutboxClaimRequest request, IReadOnlyList<OutboxEnvelope> rows, CancellationToken cancellationToken)
        {
            Count("claim-committed");
            return Task.FromResult<IReadOnlyCollection<(long, Guid)>>([]);
        }

        public Task<int> MarkProcessedAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, DateTime now, CancellationToken cancellationToken) =>
            ExecuteAsync("mark-processed", connection, $"""UPDATE "{table}" SET status = 1, processed_at = @now, lease_owner = NULL, lease_expires_at = NULL WHERE id IN ({string.Join(",", ids)}) AND lease_owner = @owner""", cancellationToken, ("now", now), ("owner", owner));

        public Task<int> MarkFailedAsync(DbConnection connection, OutboxFailedAttempt attempt, CancellationToken cancellationToken) =>
            ExecuteAsync("mark-failed", connection, $"""UPDATE "{table}" SET status = @status, attempts = @attempts, next_attempt_at = @next, last_error = @error, lease_owner = NULL, lease_expires_at = NULL WHERE id = @id AND lease_owner = @owner""", cancellationToken,
                ("status", attempt.Dead ? 2 : 0), ("attempts", attempt.Attempts), ("next", attempt.Now + attempt.Backoff), ("error", attempt.Error), ("id", attempt.Id), ("owner", attempt.Owner));

        public Task<int> ReleaseAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
            ExecuteAsync("release", connection, $"""UPDATE "{table}" SET lease_owner = NULL, lease_expires_at = NULL WHERE id IN ({string.Join(",", ids)}) AND lease_owner = @owner""", cancellationToken, ("owner", owner));

        public Task<int> DeleteProcessedAsync(DbConnection connection, DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
            ExecuteAsync("delete-processed", connection, $"""DELETE FROM "{table}" WHERE id IN (SELECT id FROM "{table}" WHERE status = 1 AND processed_at < @cutoff ORDER BY id LIMIT @batch)""", cancellationToken, ("cutoff", cutoff), ("batch", batchSize));

        private async Task<int> ExecuteAsync(string name, DbConnection connection, string sql, CancellationToken cancellationToken, params (string, object)[] parameters)
        {
            Count(name);
            await using var command = Command(connection, sql, parameters);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }

        private static DbCommand Command(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = name;
                parameter.Value = value;
                command.Parameters.Add(parameter);
            }

            return command;
        }

        private void Count(string name) => calls.AddOrUpdate(name, 1, (_, n) => n + 1);
    }
}
