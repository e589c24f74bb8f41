namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>
/// Implemented by the drains of <see cref="IOutboxDrain"/>: a transport that registers an
/// <see cref="IOutboxConsumptionWatcher"/> calls it when its host starts (before its consumers do), so that a drain
/// waiting for consumers waits for the rows committed from then on. Call it once, at start: a later call moves the
/// baseline, and a drain could then return before rows committed in between are consumed.
/// </summary>
public interface IOutboxDrainBaseline
{
    /// <summary>Notes the outbox's highest row id.</summary>
    /// <param name="cancellationToken">A token to cancel the read.</param>
    /// <returns>A task that completes when the id is noted.</returns>
    Task BeginWatchingAsync(CancellationToken cancellationToken);
}
