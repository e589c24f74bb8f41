using System.Collections.Concurrent;
using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Keys;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace DomainEvents.ThirdPartyDatabase;

/// <summary>
/// Inbox statements for SQLite written from the public contract only, the table and column names read from the model.
/// It counts the statements it ran, so a test can see that the inbox used it.
/// </summary>
public sealed class CountingSqliteInbox : IInboxDatabase
{
    /// <summary>The statements each kind ran, by name.</summary>
    public ConcurrentDictionary<string, int> Calls { get; } = new();

    /// <inheritdoc />
    public IInboxStatements? For(DbContext context) =>
        context.Database.ProviderName == "Microsoft.EntityFrameworkCore.Sqlite" ? new Statements(context.Model, Calls) : null;

    private sealed class Statements(IModel model, ConcurrentDictionary<string, int> calls) : IInboxStatements
    {
        public Task<bool> TryInsertAsync(DbContext context, DbTransaction transaction, Guid messageId, string consumer, string? messageType, DateTime processedAt, CancellationToken cancellationToken)
        {
            calls.AddOrUpdate("insert", 1, (_, n) => n + 1);
            var table = model.FindEntityType(typeof(InboxMessage))!.GetTableName();

            // EF Core keeps a Guid on SQLite as upper-case text.
            return InsertAsync(transaction, $"""INSERT INTO "{table}" (message_id, consumer, message_type, processed_at) VALUES (@a, @b, @c, @d) ON CONFLICT DO NOTHING""",
                messageId.ToString().ToUpperInvariant(), consumer, messageType, processedAt, cancellationToken);
        }

        public Task<bool> TryTakeKeyAsync(DbContext context, DbTransaction transaction, string key, string handler, string? messageType, DateTime handledAt, CancellationToken cancellationToken)
        {
            calls.AddOrUpdate("take-key", 1, (_, n) => n + 1);
            var entity = model.FindEntityType(typeof(HandledEventKey))!;
            var store = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            string Column(string property) => $"\"{entity.FindProperty(property)!.GetColumnName(store)}\"";
            return InsertAsync(transaction,
                $"""INSERT INTO "{entity.GetTableName()}" ({Column(nameof(HandledEventKey.Key))}, {Column(nameof(HandledEventKey.Handler))}, {Column(nameof(HandledEventKey.EventType))}, {Column(nameof(HandledEventKey.HandledAt))}) VALUES (@a, @b, @c, @d) ON CONFLICT DO NOTHING""",
                key, handler, messageType ?? "", handledAt, cancellationToken);
        }

        // Only the row's own key may conflict: "INSERT OR IGNORE" would also pass over a NOT NULL violation as if it were a duplicate.
        private static async Task<bool> InsertAsync(DbTransaction transaction, string sql, object a, object b, object? c, object d, CancellationToken cancellationToken)
        {
            await using var command = transaction.Connection!.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach (var (name, value) in new[] { ("a", a), ("b", b), ("c", c ?? DBNull.Value), ("d", d) })
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = name;
                parameter.Value = value;
                command.Parameters.Add(parameter);
            }

            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }
    }
}
