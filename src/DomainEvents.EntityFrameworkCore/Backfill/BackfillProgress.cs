namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>How far a backfill has got, reported after each committed page and returned at the end.</summary>
/// <param name="Name">The backfill's name.</param>
/// <param name="EntitiesRead">Entities read by the current pass, including those of an earlier run it resumed.</param>
/// <param name="EventsProduced">Events the sources yielded in the current pass.</param>
/// <param name="KeysSkipped">Keyed events of the current pass skipped because their key was handled before.</param>
/// <param name="EntitiesTotal">Entities read so far plus those left when this run started (an estimate: entities added or removed meanwhile change it).</param>
/// <param name="Elapsed">Time this run has taken.</param>
/// <param name="EntitiesPerSecond">Entities this run read per second.</param>
/// <param name="Completed">Whether the pass has read its last page.</param>
public sealed record BackfillProgress(
    string Name,
    long EntitiesRead,
    long EventsProduced,
    long KeysSkipped,
    long EntitiesTotal,
    TimeSpan Elapsed,
    double EntitiesPerSecond,
    bool Completed)
{
    /// <summary>Gets the events dispatched in the current pass: those produced, less the keyed ones skipped.</summary>
    public long EventsDispatched => EventsProduced - KeysSkipped;

    /// <summary>Gets the estimated time left at this run's rate, or <see langword="null"/> before a rate is known.</summary>
    public TimeSpan? EstimatedRemaining =>
        Completed ? TimeSpan.Zero
        : EntitiesPerSecond > 0 ? TimeSpan.FromSeconds(Math.Max(0, EntitiesTotal - EntitiesRead) / EntitiesPerSecond)
        : null;
}
