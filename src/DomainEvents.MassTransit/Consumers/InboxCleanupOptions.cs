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

    /// <summary>Gets or sets how long a handled message id is remembered; keep it longer than a message can be redelivered.</summary>
    public TimeSpan Retention { get; set; } = DefaultRetention;

    /// <summary>Gets or sets how often expired rows are deleted.</summary>
    public TimeSpan Interval { get; set; } = DefaultInterval;

    /// <summary>Gets or sets how many rows one statement deletes.</summary>
    public int BatchSize { get; set; } = DefaultBatchSize;
}
