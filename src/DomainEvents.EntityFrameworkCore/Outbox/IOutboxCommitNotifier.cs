using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// Told when a transaction that wrote outbox rows commits, to wake relays in other processes (PostgreSQL sends NOTIFY).
/// Register one as a singleton; every registered notifier is called for each such commit of every context, on
/// asynchronous saves and commits only, so check the context's type and provider. It runs inside the transaction just
/// before its commit when the save has a transaction (a notification that the database delivers at the commit; a
/// failure then fails the save, with nothing committed), and after the save returned otherwise (a failure is logged,
/// never thrown to the caller of the save). In an ambient <see cref="System.Transactions.TransactionScope"/> nothing has
/// committed when the save returns: the notifiers run after the save, inside the scope's transaction, and a failure rolls
/// that transaction back and fails the save (completing the scope then throws
/// <see cref="System.Transactions.TransactionAbortedException"/>).
/// </summary>
public interface IOutboxCommitNotifier
{
    /// <summary>
    /// Called on the context that wrote outbox rows: inside its transaction just before the commit, or after the save
    /// returned when it had no transaction of its own (see the type's summary).
    /// </summary>
    /// <param name="context">The context whose transaction commits (or committed) outbox rows.</param>
    /// <param name="cancellationToken">The token of the save, or of the commit when the caller's transaction commits.</param>
    /// <returns>A task that completes when the notification is sent.</returns>
    Task NotifyAsync(DbContext context, CancellationToken cancellationToken);
}
