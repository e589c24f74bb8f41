using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace DomainEvents.EntityFrameworkCore;

/// <summary>What the library's own SQL needs from a context: which provider it is, and parameters on plain commands.</summary>
internal static class RelationalCommands
{
    /// <summary>Whether the context runs on Npgsql (PostgreSQL).</summary>
    public static bool IsPostgres(this DatabaseFacade database) =>
        database.ProviderName?.Contains("Npgsql", StringComparison.Ordinal) == true;

    /// <summary>Whether the context runs on Microsoft.Data.Sqlite.</summary>
    public static bool IsSqlite(this DatabaseFacade database) =>
        database.ProviderName?.Contains("Sqlite", StringComparison.Ordinal) == true;

    /// <summary>
    /// The System.Transactions transaction the context's connection takes part in: the one it was enlisted in, or the
    /// ambient one. SQLite takes part in none (EF Core refuses an ambient transaction there unless its warning is turned
    /// off, and then each statement commits on its own), nor does a provider that is not relational. EF Core starts no
    /// transaction of its own in one, so a save's statements commit when it does.
    /// </summary>
    public static System.Transactions.Transaction? SystemTransaction(this DatabaseFacade database)
    {
        if (!database.IsRelational())
        {
            return null;
        }

        return System.Transactions.TransactionsDatabaseFacadeExtensions.GetEnlistedTransaction(database)
            ?? (System.Transactions.Transaction.Current is { } ambient && !database.IsSqlite() ? ambient : null);
    }

    /// <summary>
    /// The table a consumer-side row (inbox, ledger of handled keys) is written to, for the built-in statements, which
    /// run on PostgreSQL and SQLite only: its entity in the context's model and its delimited name (no schema on SQLite).
    /// </summary>
    /// <param name="db">A context of the consumer's type.</param>
    /// <param name="rowType">The entity the table maps.</param>
    /// <param name="notMapped">The error's text when the model does not map it.</param>
    /// <param name="supports">The start of the error's text on another database, such as "The inbox supports".</param>
    /// <exception cref="InvalidOperationException">The context's model does not map <paramref name="rowType"/>.</exception>
    /// <exception cref="NotSupportedException">The context's database is neither PostgreSQL nor SQLite.</exception>
    public static (IEntityType Entity, string Table) ConsumerTable(DbContext db, Type rowType, string notMapped, string supports)
    {
        ArgumentNullException.ThrowIfNull(db);
        var entity = db.Model.FindEntityType(rowType) ?? throw new InvalidOperationException(notMapped);
        var isSqlite = db.Database.IsSqlite();
        if (!isSqlite && !db.Database.IsPostgres())
        {
            throw new NotSupportedException($"{supports} PostgreSQL and SQLite; {db.Database.ProviderName} is not supported yet.");
        }

        return (entity, db.GetService<ISqlGenerationHelper>().DelimitIdentifier(entity.GetTableName()!, isSqlite ? null : entity.GetSchema()));
    }

    /// <summary>
    /// Checks what an inbox or ledger row is written with. Without the consumer's transaction the row would commit on its
    /// own, and a consumer that then failed would find its message "handled" when it came again: lost. The statement is
    /// written for one context type's table and provider.
    /// </summary>
    public static void CheckConsumerTransaction(DbContext db, Type contextType, DbTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(transaction);
        if (db.GetType() != contextType)
        {
            throw new ArgumentException($"These statements were made for {contextType.Name}, not {db.GetType().Name}.", nameof(db));
        }

        if (!ReferenceEquals(transaction.Connection, db.Database.GetDbConnection()))
        {
            throw new ArgumentException("The transaction must be open on the context's connection: the row commits or rolls back with the consumer's work.", nameof(transaction));
        }
    }

    /// <summary>Adds a named parameter with a value.</summary>
    /// <returns>The parameter, to set its type where the value alone does not say it.</returns>
    public static DbParameter AddParameter(this DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
        return parameter;
    }
}
