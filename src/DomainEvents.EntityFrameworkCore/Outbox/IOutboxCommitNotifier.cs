using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// Told when a transaction that wrote outbox rows commits, to wake relays in other processes (PostgreSQL sends NOTIFY).
/// Register one as a singleton; every registered notifier is called for each such commit of every context, on
/// asynchronous saves and commits only, so check the context's type and provider. None is called when a relay of the
/// same context runs in this process on the same outbox (the server and database the committing connection reports,
/// and the table) and can take the rows: it takes them itself. A notifier runs inside the transaction just
/// before its commit when the save has a transaction of its own or the caller's (a notification that the database
/// delivers at the commit; a failure then fails the commit, with nothing committed). In a
/// <see cref="System.Transactions.TransactionScope"/> (or a transaction the connection was enlisted in) it runs after the
/// save's statements, inside that transaction, and a failure rolls the transaction back and fails the save (disposing a
/// completed scope then throws <see cref="System.Transactions.TransactionAbortedException"/>). After a save that needed no
/// transaction it runs before <c>SaveChangesAsync</c> returns, and a failure is logged, never thrown to the caller.
/// A relay calls it too, on a context of its own with nothing saved and no transaction, when rows that commits of its
/// process handed it wait behind a key that a relay of another process is sending: that relay then claims them as soon
/// as its send ends.
/// </summary>
public interface IOutboxCommitNotifier
{
    /// <summary>
    /// Called on the context that wrote outbox rows: inside its transaction, or after a save that had none (see the
    /// type's summary).
    /// </summary>
    /// <param name="context">The context whose transaction commits (or committed) outbox rows.</param>
    /// <param name="cancellationToken">The token of the save, or of the commit when the caller's transaction commits.</param>
    /// <returns>A task that completes when the notification is sent.</returns>
    Task NotifyAsync(DbContext context, CancellationToken cancellationToken);
}
