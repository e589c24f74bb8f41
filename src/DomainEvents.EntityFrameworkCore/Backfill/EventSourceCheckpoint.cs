namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>
/// Where a backfill of event sources has got to, and who runs it: one row per backfill name, written in the transaction
/// of each page, so a backfill that crashes resumes after its last committed page. The owner and its lease make one run
/// at a time across processes.
/// </summary>
public sealed class EventSourceCheckpoint
{
    /// <summary>The most characters <see cref="Position"/> holds.</summary>
    internal const int PositionMaxLength = 1000;

    /// <summary>Gets or sets the backfill's name (by default the entity type's name).</summary>
    public string Name { get; set; } = "";

    /// <summary>Gets or sets the key of the last entity of the last committed page, as JSON; <see langword="null"/> before the first page.</summary>
    public string? Position { get; set; }

    /// <summary>Gets or sets the run that holds the backfill, or <see langword="null"/> when none does.</summary>
    public string? Owner { get; set; }

    /// <summary>Gets or sets until when (UTC) the owner holds it; renewed by each page.</summary>
    public DateTime? LeaseExpiresAt { get; set; }

    /// <summary>Gets or sets when (UTC) the current pass over the entities started.</summary>
    public DateTime StartedAt { get; set; }

    /// <summary>Gets or sets when (UTC) the last page was committed.</summary>
    public DateTime UpdatedAt { get; set; }

    /// <summary>Gets or sets when (UTC) the current pass read its last page; <see langword="null"/> while it is under way.</summary>
    public DateTime? CompletedAt { get; set; }

    /// <summary>Gets or sets the entities the current pass has read.</summary>
    public long EntitiesRead { get; set; }

    /// <summary>Gets or sets the events the sources yielded in the current pass.</summary>
    public long EventsProduced { get; set; }

    /// <summary>Gets or sets the keyed events of the current pass skipped because their key was handled.</summary>
    public long KeysSkipped { get; set; }
}
