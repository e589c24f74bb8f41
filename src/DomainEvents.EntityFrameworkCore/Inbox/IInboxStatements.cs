using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>
/// The statements a consumer's inbox runs on one database, inside the consumer's own transaction, before the consumer
/// runs. PostgreSQL and SQLite are built in; a provider for another database implements this and hands it out through
/// <see cref="IInboxDatabase"/>. A transport's consume filter gets them with
/// <see cref="InboxServiceProviderExtensions.GetInboxStatements"/>. The rules every implementation keeps, so that a
/// message's effects happen once:
/// <list type="bullet">
/// <item>the row is written in the given transaction, which is open on the context's connection: it commits or rolls
/// back with the consumer's work;</item>
/// <item>an insert returns <see langword="false"/> when the row (message id and consumer; or key and handler) is there
/// already, and then writes nothing;</item>
/// <item>while another transaction holds an uncommitted row with the same identity, the insert waits for it: it returns
/// <see langword="false"/> if that transaction commits, and inserts if it rolls back;</item>
/// <item>values are stored as the context's EF Core provider stores them (a <see cref="Guid"/> on SQLite as upper-case
/// text, for example): the inbox clean-up, the commands and a user's queries read the rows through the model.</item>
/// </list>
/// One instance serves one context type; calls may run at the same time on different contexts and transactions.
/// </summary>
public interface IInboxStatements
{
    /// <summary>Inserts the inbox row unless it is there already.</summary>
    /// <param name="context">The consumer's context.</param>
    /// <param name="transaction">The consumer's open transaction, on <paramref name="context"/>'s connection.</param>
    /// <param name="messageId">The message's id.</param>
    /// <param name="consumer">The consumer's name: each consumer of a message has a row of its own.</param>
    /// <param name="messageType">The message type, kept for operators.</param>
    /// <param name="processedAt">When, in UTC.</param>
    /// <param name="cancellationToken">A token to cancel the insert.</param>
    /// <returns><see langword="false"/> when the row was there already: the message is a duplicate.</returns>
    Task<bool> TryInsertAsync(DbContext context, DbTransaction transaction, Guid messageId, string consumer, string? messageType, DateTime processedAt, CancellationToken cancellationToken);

    /// <summary>Takes a key in the ledger of handled keys for a consumer that handles each key once, unless it is taken already.</summary>
    /// <param name="context">The consumer's context.</param>
    /// <param name="transaction">The consumer's open transaction, on <paramref name="context"/>'s connection.</param>
    /// <param name="key">The event's key, valid by <see cref="DomainEvents.Errors.InvalidEventKeyException.IsValid"/>.</param>
    /// <param name="handler">The consumer's name: each consumer of a key has a row of its own.</param>
    /// <param name="messageType">The message type, kept for operators.</param>
    /// <param name="handledAt">When, in UTC.</param>
    /// <param name="cancellationToken">A token to cancel the insert.</param>
    /// <returns><see langword="false"/> when the key was taken already: the message is skipped.</returns>
    Task<bool> TryTakeKeyAsync(DbContext context, DbTransaction transaction, string key, string handler, string? messageType, DateTime handledAt, CancellationToken cancellationToken);

    /// <summary>
    /// Commits the consumer's transaction, in place of the provider's own commit, and tells a transaction that could not
    /// commit from one that did. Where a failed statement aborts the whole transaction (PostgreSQL), a COMMIT then rolls
    /// back without an error, and a consumer that caught the failure and went on would have its message acknowledged with
    /// nothing stored; an implementation for such a database sends, in the COMMIT's own round trip, a statement that fails
    /// in an aborted transaction. The default commits and returns <see langword="true"/>: right for a database where a
    /// COMMIT after a failed statement raises an error or commits what succeeded (SQLite). EF Core's transaction
    /// interceptors see the commit as usual.
    /// </summary>
    /// <param name="transaction">The consumer's open transaction, with the inbox row and the consumer's work.</param>
    /// <param name="cancellationToken">A token to cancel the commit.</param>
    /// <returns>
    /// <see langword="false"/> when the transaction had been aborted: nothing was committed, and it is still open, to be
    /// rolled back. An error of the COMMIT itself (a deferred constraint, a serialization failure) is thrown as the
    /// provider's commit throws it.
    /// </returns>
    async Task<bool> CommitAsync(DbTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }
}
