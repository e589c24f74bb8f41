using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using DomainEvents.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>The built-in insert of a consumer's key into the ledger of handled keys, for one context type, on PostgreSQL or SQLite.</summary>
internal sealed class KeyLedgerSql
{
    private readonly string _insert;
    private readonly Type _contextType;

    /// <summary>Initializes a new instance of the <see cref="KeyLedgerSql"/> class for a context's ledger table.</summary>
    /// <param name="db">A context of the type whose model has the ledger (<c>AddDomainEventsKeyedEvents</c>).</param>
    /// <exception cref="InvalidOperationException">The context's model has no ledger table.</exception>
    /// <exception cref="NotSupportedException">The context's database is neither PostgreSQL nor SQLite.</exception>
    public KeyLedgerSql(DbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        _contextType = db.GetType();
        var (entity, table) = RelationalCommands.ConsumerTable(db, typeof(HandledEventKey),
            $"{db.GetType().Name} has no ledger of handled keys, which OncePerKey needs: call modelBuilder.AddDomainEventsKeyedEvents() in OnModelCreating.",
            "Once-per-key consumers support");
        var sql = db.GetService<ISqlGenerationHelper>();
        var store = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(store)!);
        _insert = $"INSERT INTO {table} ({Column(nameof(HandledEventKey.Key))}, {Column(nameof(HandledEventKey.Handler))}, {Column(nameof(HandledEventKey.EventType))}, {Column(nameof(HandledEventKey.HandledAt))}) " +
                  "VALUES (@key, @handler, @type, @at) ON CONFLICT DO NOTHING";
    }

    /// <summary>Takes the key for the handler in the given transaction, waiting for a transaction that holds it.</summary>
    /// <param name="db">The consumer's context, of the type this was made for.</param>
    /// <param name="transaction">The consumer's open transaction, on <paramref name="db"/>'s connection.</param>
    /// <param name="key">The event's key, valid by <see cref="DomainEvents.Errors.InvalidEventKeyException.IsValid"/>.</param>
    /// <param name="handler">The consumer's name: each consumer of a key has a row of its own.</param>
    /// <param name="messageType">The message type, kept for operators.</param>
    /// <param name="at">When, in UTC.</param>
    /// <param name="cancellationToken">A token to cancel the insert.</param>
    /// <returns><see langword="false"/> when the key was taken already: the message is skipped.</returns>
    /// <exception cref="ArgumentException">The key is not valid, the context is of another type, or the transaction is not on its connection.</exception>
    public async Task<bool> TryTakeAsync(DbContext db, DbTransaction transaction, string key, string handler, string? messageType, DateTime at, CancellationToken cancellationToken)
    {
        RelationalCommands.CheckConsumerTransaction(db, _contextType, transaction);
        if (!DomainEvents.Errors.InvalidEventKeyException.IsValid(key))
        {
            throw new ArgumentException($"The key is not valid: 1 to {DomainEvents.Errors.InvalidEventKeyException.MaxLength} characters without control characters.", nameof(key));
        }

        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _insert;
        command.AddParameter("key", key);
        command.AddParameter("handler", handler);
        command.AddParameter("type", messageType ?? "");
        command.AddParameter("at", at);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }
}
