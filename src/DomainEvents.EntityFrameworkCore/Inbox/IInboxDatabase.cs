using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>
/// Gives consumers with an inbox their statements for a context's database. Register a provider for another database
/// as a singleton (<c>services.AddSingleton&lt;IInboxDatabase, MyDatabase&gt;()</c>); the providers registered are asked
/// in order, before the built-in PostgreSQL and SQLite ones.
/// </summary>
public interface IInboxDatabase
{
    /// <summary>Creates statements for <paramref name="context"/>'s inbox table (read its name from the model's <see cref="InboxMessage"/> entity) and, for once-per-key consumers, its ledger of handled keys (<see cref="Keys.HandledEventKey"/>).</summary>
    /// <param name="context">A context of the consumer's type, of one scope: read its model and provider, do not keep it.</param>
    /// <returns>Statements for contexts of this type, or <see langword="null"/> when this provider does not serve the context's database.</returns>
    IInboxStatements? For(DbContext context);
}
