using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using DomainEvents.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>The insert of a consumer's key into the ledger, for one context type and provider, written once.</summary>
internal sealed class KeyLedgerSql
{
    private readonly string _insert;

    public KeyLedgerSql(DbContext db)
    {
        var entity = db.Model.FindEntityType(typeof(HandledEventKey))
                     ?? throw new InvalidOperationException($"{db.GetType().Name} has no ledger of handled keys, which OncePerKey needs: call modelBuilder.AddDomainEventsKeyedEvents() in OnModelCreating.");
        if (!db.Database.IsPostgres() && !db.Database.IsSqlite())
        {
            throw new NotSupportedException($"Once-per-key consumers support PostgreSQL and SQLite; {db.Database.ProviderName} is not supported yet.");
        }

        var sql = db.GetService<ISqlGenerationHelper>();
        var store = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(store)!);
        var table = sql.DelimitIdentifier(entity.GetTableName()!, db.Database.IsSqlite() ? null : entity.GetSchema());
        _insert = $"INSERT INTO {table} ({Column(nameof(HandledEventKey.Key))}, {Column(nameof(HandledEventKey.Handler))}, {Column(nameof(HandledEventKey.EventType))}, {Column(nameof(HandledEventKey.HandledAt))}) " +
                  "VALUES (@key, @handler, @type, @at) ON CONFLICT DO NOTHING";
    }

    /// <summary>Takes the key for the handler in the given transaction, waiting for a transaction that holds it.</summary>
    /// <returns><see langword="false"/> when the key was taken already: the message is skipped.</returns>
    public async Task<bool> TryTakeAsync(DbContext db, DbTransaction transaction, string key, string handler, string? messageType, DateTime at, CancellationToken cancellationToken)
    {
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
