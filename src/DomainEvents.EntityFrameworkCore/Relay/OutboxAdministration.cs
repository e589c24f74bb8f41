using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>The outbox operations, through the application's DbContext.</summary>
internal sealed class OutboxAdministration<TContext>(TContext context, OutboxSignal signal, TimeProvider time) : IOutboxAdministration<TContext>
    where TContext : DbContext
{
    private IQueryable<OutboxMessage> Rows => context.Set<OutboxMessage>();

    private IQueryable<OutboxMessage> Dead => Rows.Where(m => m.Status == OutboxMessageStatus.Dead);

    public async Task<IReadOnlyDictionary<OutboxMessageStatus, int>> CountAsync(CancellationToken cancellationToken = default)
    {
        var counts = await Rows.GroupBy(m => m.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(cancellationToken).ConfigureAwait(false);
        return Enum.GetValues<OutboxMessageStatus>().ToDictionary(s => s, s => counts.FirstOrDefault(c => c.Key == s)?.Count ?? 0);
    }

    public async Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow().UtcDateTime;

        // Two statements, each on one status: PostgreSQL uses a partial index for "status = 0" or "status = 2", but not
        // for "status IN (0, 2)", which would scan every processed row kept for retention.
        var pending = await Rows
            .Where(m => m.Status == OutboxMessageStatus.Pending)
            .GroupBy(m => m.Exchange)
            .Select(g => new
            {
                Exchange = g.Key,
                Count = g.Count(),
                Leased = g.Count(m => m.LeaseOwner != null && m.LeaseExpiresAt > now),
                Oldest = g.Min(m => m.OccurredAt),
            })
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        var dead = await Rows
            .Where(m => m.Status == OutboxMessageStatus.Dead)
            .GroupBy(m => m.Exchange)
            .Select(g => new { Exchange = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken).ConfigureAwait(false);

        var exchanges = pending.Select(p => p.Exchange).Union(dead.Select(d => d.Exchange), StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return new OutboxBacklog(now, [.. exchanges.Select(exchange =>
        {
            var waiting = pending.FirstOrDefault(p => p.Exchange == exchange);
            return new OutboxExchangeBacklog(
                exchange,
                waiting?.Count ?? 0,
                waiting?.Leased ?? 0,
                dead.FirstOrDefault(d => d.Exchange == exchange)?.Count ?? 0,
                waiting is null ? null : DateTime.SpecifyKind(waiting.Oldest, DateTimeKind.Utc));
        })]);
    }

    public async Task<IReadOnlyList<OutboxMessage>> ListDeadAsync(int max = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        return await Dead.AsNoTracking().OrderBy(m => m.Id).Take(max).ToListAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<int> RetryDeadAsync(Guid messageId, CancellationToken cancellationToken = default) =>
        RetryAsync(Dead.Where(m => m.MessageId == messageId), cancellationToken);

    public async Task<int> RetryDeadAsync(IReadOnlyCollection<Guid> messageIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        if (messageIds.Count == 0)
        {
            return 0;
        }

        // In statements of a bounded size, in one transaction: the rows become pending together when it commits. Rows retried
        // one by one would let a relay send a later row of a key before an earlier one still waiting for its turn.
        // In the caller's transaction (or TransactionScope), the statements join it, and it decides; a retrying execution
        // strategy refuses to run inside one, so it is used only for a transaction of this method's own.
        var now = time.GetUtcNow().UtcDateTime;
        var count = context.Database.CurrentTransaction is not null || context.Database.SystemTransaction() is not null
            ? await SetPendingAsync(messageIds, now, cancellationToken).ConfigureAwait(false)
            : await context.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
            {
                await using var transaction = await context.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
                var retried = await SetPendingAsync(messageIds, now, ct).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return retried;
            }, cancellationToken).ConfigureAwait(false);
        Retried(count);
        return count;
    }

    private async Task<int> SetPendingAsync(IReadOnlyCollection<Guid> messageIds, DateTime now, CancellationToken cancellationToken)
    {
        var retried = 0;
        foreach (var chunk in messageIds.Distinct().Chunk(500))
        {
            retried += await SetPendingAsync(Dead.Where(m => chunk.Contains(m.MessageId)), now, cancellationToken).ConfigureAwait(false);
        }

        return retried;
    }

    public Task<int> RetryDeadByMessageTypeAsync(string messageType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageType);
        return RetryAsync(Dead.Where(m => m.MessageType == messageType), cancellationToken);
    }

    public Task<int> RetryAllDeadAsync(CancellationToken cancellationToken = default) => RetryAsync(Dead, cancellationToken);

    public Task<int> PurgeDeadAsync(string? messageType = null, CancellationToken cancellationToken = default) =>
        (messageType is null ? Dead : Dead.Where(m => m.MessageType == messageType)).ExecuteDeleteAsync(cancellationToken);

    private async Task<int> RetryAsync(IQueryable<OutboxMessage> rows, CancellationToken cancellationToken)
    {
        var count = await SetPendingAsync(rows, time.GetUtcNow().UtcDateTime, cancellationToken).ConfigureAwait(false);
        Retried(count);
        return count;
    }

    private static Task<int> SetPendingAsync(IQueryable<OutboxMessage> rows, DateTime now, CancellationToken cancellationToken) =>
        rows.ExecuteUpdateAsync(
            s => s.SetProperty(m => m.Status, OutboxMessageStatus.Pending)
                .SetProperty(m => m.Attempts, 0)
                .SetProperty(m => m.NextAttemptAt, now)
                .SetProperty(m => m.LeaseOwner, (string?)null)
                .SetProperty(m => m.LeaseExpiresAt, (DateTime?)null),
            cancellationToken);

    private void Retried(int count)
    {
        if (count > 0)
        {
            RelayMetrics.Retried(typeof(TContext).Name, count);
            signal.Notify(typeof(TContext));
        }
    }
}
