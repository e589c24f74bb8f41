namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>Lets a consumption watcher tell the drain that its host is starting: rows committed from then on are watched.</summary>
internal interface IOutboxDrainBaseline
{
    /// <summary>Notes the outbox's highest row id.</summary>
    Task BeginWatchingAsync(CancellationToken cancellationToken);
}
