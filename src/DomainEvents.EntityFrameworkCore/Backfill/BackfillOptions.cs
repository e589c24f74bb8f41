namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>How a backfill runs.</summary>
public sealed class BackfillOptions
{
    /// <summary>
    /// Gets or sets the backfill's name, which names its checkpoint (default: the entity type's name). Two backfills of one
    /// entity type with different sources registered in different hosts need different names.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>Gets or sets how many entities each page reads and saves in one transaction (default 500).</summary>
    public int PageSize { get; set; } = 500;

    /// <summary>
    /// Gets or sets whether to continue an unfinished pass from its checkpoint (a pass that crashed or was cancelled).
    /// Default <see langword="false"/>: start from the first entity. A finished pass is always started again.
    /// </summary>
    public bool Resume { get; set; }

    /// <summary>
    /// Gets or sets how long a run holds the backfill without committing a page (default 2 minutes). Another run, in this
    /// process or another, is refused until then; after it, a crashed run's backfill can be taken over. At most
    /// <see cref="Relay.OutboxRelayOptions.MaxInterval"/>.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Gets or sets how often a page is read and run again when it lost a race for a key to a concurrent save, or the
    /// database rolled it back for a deadlock with a writer (default 5).
    /// </summary>
    public int MaxPageAttempts { get; set; } = 5;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(PageSize, 1, nameof(PageSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(LeaseDuration, TimeSpan.Zero, nameof(LeaseDuration));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(LeaseDuration, Relay.OutboxRelayOptions.MaxInterval, nameof(LeaseDuration));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPageAttempts, 1, nameof(MaxPageAttempts));
        if (Name is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(Name, nameof(Name));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(Name.Length, 200, nameof(Name));
        }
    }
}
