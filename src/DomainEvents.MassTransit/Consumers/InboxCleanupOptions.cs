namespace DomainEvents.MassTransit.Consumers;

/// <summary>How long inbox rows are kept, and how they are deleted.</summary>
public sealed class InboxCleanupOptions
{
    /// <summary>How long a handled message id is remembered (default 7 days).</summary>
    public static readonly TimeSpan DefaultRetention = TimeSpan.FromDays(7);

    /// <summary>How often expired rows are deleted (default 10 min).</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMinutes(10);

    /// <summary>Rows deleted per statement (default 1000).</summary>
    public const int DefaultBatchSize = 1000;

    /// <summary>
    /// Gets or sets how long a handled message id is remembered; keep it longer than a message can be redelivered. More
    /// than zero (a message redelivered after its id is forgotten is applied again); <see cref="TimeSpan.MaxValue"/>, or
    /// any span longer than the calendar reaches back, keeps every id.
    /// </summary>
    public TimeSpan Retention { get; set; } = DefaultRetention;

    /// <summary>Gets or sets how often expired rows are deleted: more than zero, at most <c>OutboxRelayOptions.MaxInterval</c>.</summary>
    public TimeSpan Interval { get; set; } = DefaultInterval;

    /// <summary>Gets or sets how many rows one statement deletes (at least 1).</summary>
    public int BatchSize { get; set; } = DefaultBatchSize;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Retention, TimeSpan.Zero, nameof(Retention));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Interval, TimeSpan.Zero, nameof(Interval));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Interval, EntityFrameworkCore.Relay.OutboxRelayOptions.MaxInterval, nameof(Interval));
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
    }
}
