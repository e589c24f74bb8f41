using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.EntityFrameworkCore.Outbox;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>What an operator does with the outbox: look at it, retry dead rows, purge them.</summary>
public interface IOutboxAdministration
{
    /// <summary>Counts rows by status.</summary>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The number of rows in each status.</returns>
    Task<IReadOnlyDictionary<OutboxMessageStatus, int>> CountAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads what waits in the outbox, per exchange: pending, leased and dead rows, and when the oldest pending row's event
    /// occurred. Two short queries, one over pending rows and one over dead rows (on PostgreSQL each uses its partial
    /// index); the gauges and health checks use it.
    /// </summary>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The backlog.</returns>
    Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken = default);

    /// <summary>Lists dead rows, oldest first.</summary>
    /// <param name="max">The most rows to return.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The dead rows.</returns>
    Task<IReadOnlyList<OutboxMessage>> ListDeadAsync(int max = 100, CancellationToken cancellationToken = default);

    /// <summary>Makes one dead row pending again, with its attempts reset.</summary>
    /// <param name="messageId">The message id.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The number of rows retried (0 or 1).</returns>
    Task<int> RetryDeadAsync(Guid messageId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes dead rows pending again, with their attempts reset, all in one transaction: a relay never finds a later row of
    /// a partition key pending while an earlier row of that key that is retried with it is still dead. Message ids of rows
    /// that are not dead are passed over.
    /// </summary>
    /// <param name="messageIds">The rows' message ids.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The number of rows retried.</returns>
    Task<int> RetryDeadAsync(IReadOnlyCollection<Guid> messageIds, CancellationToken cancellationToken = default);

    /// <summary>Makes every dead row of a message type pending again.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The number of rows retried.</returns>
    Task<int> RetryDeadByMessageTypeAsync(string messageType, CancellationToken cancellationToken = default);

    /// <summary>Makes every dead row pending again.</summary>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The number of rows retried.</returns>
    Task<int> RetryAllDeadAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes dead rows, all of them or those of one message type.</summary>
    /// <param name="messageType">A message type name, or <see langword="null"/> for all.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The number of rows deleted.</returns>
    Task<int> PurgeDeadAsync(string? messageType = null, CancellationToken cancellationToken = default);
}
