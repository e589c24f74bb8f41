using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Keys;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>Finds the inbox statements for a context: what a transport's consume filter calls once per context type.</summary>
public static class InboxServiceProviderExtensions
{
    /// <summary>
    /// Gets the inbox statements for <paramref name="context"/>'s database: those of the first registered
    /// <see cref="IInboxDatabase"/> that serves it, or the built-in PostgreSQL and SQLite ones. Keep them for contexts of
    /// the same type.
    /// </summary>
    /// <param name="services">The services of the consumer's scope (or the application's).</param>
    /// <param name="context">A context of the consumer's type.</param>
    /// <returns>The statements.</returns>
    /// <exception cref="InvalidOperationException">The context's model has no inbox table.</exception>
    /// <exception cref="NotSupportedException">No registered provider serves the context's database, and it is neither PostgreSQL nor SQLite.</exception>
    public static IInboxStatements GetInboxStatements(this IServiceProvider services, DbContext context)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(context);
        foreach (var database in services.GetServices<IInboxDatabase>())
        {
            if (database.For(context) is { } statements)
            {
                return statements;
            }
        }

        return new BuiltInInboxStatements(context);
    }

    /// <summary>The built-in inserts; the key ledger's is made on first use, since only once-per-key consumers need its table.</summary>
    private sealed class BuiltInInboxStatements(DbContext first) : IInboxStatements
    {
        private readonly InboxSql _inbox = new(first);
        private KeyLedgerSql? _keys;

        public Task<bool> TryInsertAsync(DbContext context, DbTransaction transaction, Guid messageId, string consumer, string? messageType, DateTime processedAt, CancellationToken cancellationToken) =>
            _inbox.TryInsertAsync(context, transaction, messageId, consumer, messageType, processedAt, cancellationToken);

        public Task<bool> TryTakeKeyAsync(DbContext context, DbTransaction transaction, string key, string handler, string? messageType, DateTime handledAt, CancellationToken cancellationToken) =>
            (_keys ??= new KeyLedgerSql(context)).TryTakeAsync(context, transaction, key, handler, messageType, handledAt, cancellationToken);

        public Task<bool> CommitAsync(DbTransaction transaction, CancellationToken cancellationToken) => _inbox.CommitAsync(transaction, cancellationToken);
    }
}
