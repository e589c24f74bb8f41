using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>Told when a transaction that wrote outbox rows has committed, to wake relays in other processes.</summary>
internal interface IOutboxCommitNotifier
{
    /// <summary>Called after the commit, on the context that committed.</summary>
    Task NotifyAsync(DbContext context, CancellationToken cancellationToken);
}
