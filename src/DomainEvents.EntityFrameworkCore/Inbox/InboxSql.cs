using System.Data;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>The built-in inbox insert for one context type, on PostgreSQL or SQLite, written once.</summary>
internal sealed class InboxSql
{
    /// <summary>PostgreSQL's <c>in_failed_sql_transaction</c>: a statement sent to a transaction that an earlier failure aborted.</summary>
    private const string InFailedTransaction = "25P02";

    private readonly string _insert;
    private readonly Type _contextType;
    private readonly bool _isSqlite;

    /// <summary>Initializes a new instance of the <see cref="InboxSql"/> class for a context's inbox table.</summary>
    /// <param name="db">A context of the type whose model has the inbox (<c>AddDomainEventsInbox</c>).</param>
    /// <exception cref="InvalidOperationException">The context's model has no inbox table.</exception>
    /// <exception cref="NotSupportedException">The context's database is neither PostgreSQL nor SQLite.</exception>
    public InboxSql(DbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        _contextType = db.GetType();
        var (_, table) = RelationalCommands.ConsumerTable(db, typeof(InboxMessage),
            $"{db.GetType().Name} has no inbox table: call modelBuilder.AddDomainEventsInbox() (or AddDomainEventsOutbox()) in OnModelCreating.",
            "The inbox supports");
        _isSqlite = db.Database.IsSqlite();
        _insert = $"INSERT INTO {table} (message_id, consumer, message_type, processed_at) VALUES (@id, @consumer, @type, @at) ON CONFLICT DO NOTHING";
    }

    /// <summary>Inserts the inbox row in the given transaction unless it is there already.</summary>
    /// <param name="db">The consumer's context, of the type this was made for.</param>
    /// <param name="transaction">The consumer's open transaction, on <paramref name="db"/>'s connection.</param>
    /// <param name="messageId">The message's id.</param>
    /// <param name="consumer">The consumer's name: each consumer of a message has a row of its own.</param>
    /// <param name="messageType">The message type, kept for operators.</param>
    /// <param name="processedAt">When, in UTC.</param>
    /// <param name="cancellationToken">A token to cancel the insert.</param>
    /// <returns><see langword="false"/> when the row was there already: the message is a duplicate.</returns>
    /// <exception cref="ArgumentException">The context is of another type, or the transaction is not on its connection.</exception>
    public async Task<bool> TryInsertAsync(DbContext db, DbTransaction transaction, Guid messageId, string consumer, string? messageType, DateTime processedAt, CancellationToken cancellationToken)
    {
        RelationalCommands.CheckConsumerTransaction(db, _contextType, transaction);
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _insert;

        // EF Core stores a Guid on SQLite as upper-case text; match it so the key compares equal.
        command.AddParameter("id", _isSqlite ? messageId.ToString().ToUpperInvariant() : messageId);
        command.AddParameter("consumer", consumer);
        command.AddParameter("type", (object?)messageType ?? DBNull.Value).DbType = DbType.String;
        command.AddParameter("at", processedAt);
        if (!_isSqlite)
        {
            // Npgsql keeps the prepared statement on the pooled physical connection: planned once per connection.
            await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Commits <paramref name="transaction"/>; on PostgreSQL with <c>SELECT 1</c> before the <c>COMMIT</c> in the same
    /// round trip. In a transaction that a failed statement aborted, the <c>SELECT</c> fails, the server skips the rest of
    /// the batch, and the transaction stays open (and aborted) for a rollback; a plain COMMIT would have rolled back in
    /// silence. SQLite has no aborted state: a COMMIT after a failed statement commits what succeeded.
    /// </summary>
    /// <returns><see langword="false"/> when the transaction had been aborted: nothing was committed.</returns>
    public async Task<bool> CommitAsync(DbTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (_isSqlite)
        {
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }

        var connection = transaction.Connection ?? throw new ArgumentException("The transaction has completed.", nameof(transaction));
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT 1; COMMIT";
        try
        {
            // Prepared like the insert: once per physical connection, then no parse or plan on the server.
            await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex) when (ex.SqlState == InFailedTransaction)
        {
            return false;
        }

        return true;
    }
}
