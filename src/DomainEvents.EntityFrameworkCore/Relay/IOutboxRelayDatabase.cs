using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Gives the relay its statements for a context's database. Register a provider for another database as a singleton
/// (<c>services.AddSingleton&lt;IOutboxRelayDatabase, MyDatabase&gt;()</c>); the providers registered are asked in
/// order, before the built-in PostgreSQL and SQLite ones.
/// </summary>
public interface IOutboxRelayDatabase
{
    /// <summary>Creates statements for <paramref name="context"/>'s outbox table (read its name from the model's <see cref="Outbox.OutboxMessage"/> entity).</summary>
    /// <param name="context">A context of the relay's type.</param>
    /// <returns>New statements for one relay or clean-up, or <see langword="null"/> when this provider does not serve the context's database.</returns>
    IOutboxRelayStatements? For(DbContext context);
}
