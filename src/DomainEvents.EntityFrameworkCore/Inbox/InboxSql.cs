using System.Data;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>The inbox insert for one context type and provider, written once.</summary>
internal sealed class InboxSql
{
    private readonly string _insert;
    private readonly bool _isPostgres;
    private readonly bool _isSqlite;

    public InboxSql(DbContext db)
    {
        var entity = db.Model.FindEntityType(typeof(InboxMessage))
                     ?? throw new InvalidOperationException($"{db.GetType().Name} has no inbox table: call modelBuilder.AddDomainEventsInbox() (or AddDomainEventsOutbox()) in OnModelCreating.");
        _isPostgres = db.Database.IsPostgres();
        _isSqlite = db.Database.IsSqlite();
        if (!_isPostgres && !_isSqlite)
        {
            throw new NotSupportedException($"The inbox supports PostgreSQL and SQLite; {db.Database.ProviderName} is not supported yet.");
        }

        var table = db.GetService<ISqlGenerationHelper>().DelimitIdentifier(entity.GetTableName()!, _isSqlite ? null : entity.GetSchema());
        _insert = $"INSERT INTO {table} (message_id, consumer, message_type, processed_at) VALUES (@id, @consumer, @type, @at) ON CONFLICT DO NOTHING";
    }

    /// <summary>Inserts the inbox row in the given transaction unless it is there already.</summary>
    /// <returns><see langword="false"/> when the row was there already: the message is a duplicate.</returns>
    public async Task<bool> TryInsertAsync(DbContext db, DbTransaction transaction, Guid messageId, string consumer, string? messageType, DateTime processedAt, CancellationToken cancellationToken)
    {
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _insert;

        // EF Core stores a Guid on SQLite as upper-case text; match it so the key compares equal.
        command.AddParameter("id", _isSqlite ? messageId.ToString().ToUpperInvariant() : messageId);
        command.AddParameter("consumer", consumer);
        command.AddParameter("type", (object?)messageType ?? DBNull.Value).DbType = DbType.String;
        command.AddParameter("at", processedAt);
        if (_isPostgres)
        {
            // Npgsql keeps the prepared statement on the pooled physical connection: planned once per connection.
            await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }
}
