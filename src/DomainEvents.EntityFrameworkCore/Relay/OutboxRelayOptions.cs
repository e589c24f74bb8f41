namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>Settings of the outbox relay. Defaults suit most applications; each has a documented constant.</summary>
public sealed class OutboxRelayOptions
{
    /// <summary>Rows claimed per batch (default 200).</summary>
    public const int DefaultBatchSize = 200;

    /// <summary>Messages in flight at once across partition keys (default 100).</summary>
    public const int DefaultMaxConcurrentSends = 100;

    /// <summary>Failed attempts before a row is dead (default 10).</summary>
    public const int DefaultMaxAttempts = 10;

    /// <summary>How often the relay looks for rows when nothing wakes it (default 1 s).</summary>
    public static readonly TimeSpan DefaultPollingInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a claim holds a row before another relay may take it (default 60 s); at least four times <see cref="SendTimeout"/>.</summary>
    public static readonly TimeSpan DefaultLeaseDuration = TimeSpan.FromSeconds(60);

    /// <summary>How long one send may take before it counts as failed (default 15 s).</summary>
    public static readonly TimeSpan DefaultSendTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The back-off after the first failure; it doubles with each attempt (default 1 s).</summary>
    public static readonly TimeSpan DefaultRetryBaseDelay = TimeSpan.FromSeconds(1);

    /// <summary>The longest back-off between attempts (default 5 min).</summary>
    public static readonly TimeSpan DefaultRetryMaxDelay = TimeSpan.FromMinutes(5);

    /// <summary>How long processed rows are kept before they are deleted (default 1 day).</summary>
    public static readonly TimeSpan DefaultProcessedRetention = TimeSpan.FromDays(1);

    /// <summary>How often processed rows past retention are deleted (default 1 min).</summary>
    public static readonly TimeSpan DefaultCleanupInterval = TimeSpan.FromMinutes(1);

    /// <summary>The longest pause while the transport is unavailable (default 30 s).</summary>
    public static readonly TimeSpan DefaultMaxOutagePause = TimeSpan.FromSeconds(30);

    /// <summary>Rows deleted per clean-up statement, so writers are never locked out for long (default 1000).</summary>
    public const int DefaultCleanupBatchSize = 1000;

    /// <summary>The default <see cref="BacklogInterval"/>.</summary>
    public static readonly TimeSpan DefaultBacklogInterval = TimeSpan.FromSeconds(15);

    /// <summary>Gets or sets the number of rows claimed per batch.</summary>
    public int BatchSize { get; set; } = DefaultBatchSize;

    /// <summary>Gets or sets how many messages may be in flight at once (rows of one partition key are always sent one after another).</summary>
    public int MaxConcurrentSends { get; set; } = DefaultMaxConcurrentSends;

    /// <summary>Gets or sets how many failed attempts make a row dead.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>Gets or sets the polling interval, the fallback when no commit in this process wakes the relay.</summary>
    public TimeSpan PollingInterval { get; set; } = DefaultPollingInterval;

    /// <summary>Gets or sets how long a claim holds a row.</summary>
    public TimeSpan LeaseDuration { get; set; } = DefaultLeaseDuration;

    /// <summary>Gets or sets how long one send may take.</summary>
    public TimeSpan SendTimeout { get; set; } = DefaultSendTimeout;

    /// <summary>Gets or sets the back-off after the first failure.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = DefaultRetryBaseDelay;

    /// <summary>Gets or sets the longest back-off.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = DefaultRetryMaxDelay;

    /// <summary>
    /// Gets or sets how long processed rows are kept (default 1 day). <see cref="TimeSpan.MaxValue"/>, or any span longer
    /// than the calendar reaches back, keeps them all.
    /// </summary>
    public TimeSpan ProcessedRetention { get; set; } = DefaultProcessedRetention;

    /// <summary>Gets or sets how often old processed rows are deleted.</summary>
    public TimeSpan CleanupInterval { get; set; } = DefaultCleanupInterval;

    /// <summary>Gets or sets how many rows one clean-up statement deletes.</summary>
    public int CleanupBatchSize { get; set; } = DefaultCleanupBatchSize;

    /// <summary>Gets or sets the longest pause while the transport is unavailable; pauses double from 250 ms up to it.</summary>
    public TimeSpan MaxOutagePause { get; set; } = DefaultMaxOutagePause;

    /// <summary>
    /// Gets or sets how often this process reads the outbox's backlog for the gauges <c>domainevents.outbox.pending</c>,
    /// <c>.leased</c>, <c>.dead</c> and <c>.oldest_pending_age</c> (default 15 s: a query over pending rows and one over dead rows).
    /// <see cref="TimeSpan.Zero"/> turns the reading off.
    /// </summary>
    public TimeSpan BacklogInterval { get; set; } = DefaultBacklogInterval;

    /// <summary>Gets or sets this relay's name in lease columns (default: host name, process id and a random suffix).</summary>
    public string InstanceName { get; set; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentSends, 1, nameof(MaxConcurrentSends));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollingInterval, TimeSpan.Zero, nameof(PollingInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SendTimeout, TimeSpan.Zero, nameof(SendTimeout));

        // The relay waits these with timers, which take at most MaxInterval, or adds them to dates stored in rows (a back-off);
        // a longer one would fail in the running relay.
        foreach (var (interval, name) in new[]
                 {
                     (PollingInterval, nameof(PollingInterval)), (LeaseDuration, nameof(LeaseDuration)), (SendTimeout, nameof(SendTimeout)),
                     (MaxOutagePause, nameof(MaxOutagePause)), (CleanupInterval, nameof(CleanupInterval)), (BacklogInterval, nameof(BacklogInterval)),
                     (RetryMaxDelay, nameof(RetryMaxDelay)),
                 })
        {
            if (interval > MaxInterval)
            {
                throw new ArgumentOutOfRangeException(name, interval, $"{name} must be at most {MaxInterval} (the longest wait a timer takes).");
            }
        }

        if (LeaseDuration < SendTimeout * 4)
        {
            // Sends start only in the first half of a lease and each may take SendTimeout; the last quarter is kept
            // for recording the outcome, so no other relay can take a row whose send may still be confirmed.
            throw new ArgumentOutOfRangeException(nameof(LeaseDuration), LeaseDuration,
                $"LeaseDuration ({LeaseDuration}) must be at least four times SendTimeout ({SendTimeout}): sends start only in the first half of a lease, and a quarter is kept for recording their outcome.");
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(InstanceName, nameof(InstanceName));
        if (InstanceName.Length > MaxInstanceNameLength)
        {
            throw new ArgumentOutOfRangeException(nameof(InstanceName), InstanceName, $"InstanceName must be at most {MaxInstanceNameLength} characters (it is stored with each lease).");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RetryBaseDelay, TimeSpan.Zero, nameof(RetryBaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryMaxDelay, RetryBaseDelay, nameof(RetryMaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(ProcessedRetention, TimeSpan.Zero, nameof(ProcessedRetention));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MaxOutagePause, TimeSpan.Zero, nameof(MaxOutagePause));
        ArgumentOutOfRangeException.ThrowIfLessThan(CleanupBatchSize, 1, nameof(CleanupBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CleanupInterval, TimeSpan.Zero, nameof(CleanupInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(BacklogInterval, TimeSpan.Zero, nameof(BacklogInterval));
    }

    /// <summary>
    /// The longest <see cref="PollingInterval"/>, <see cref="LeaseDuration"/>, <see cref="SendTimeout"/>, <see cref="MaxOutagePause"/>,
    /// <see cref="CleanupInterval"/>, <see cref="BacklogInterval"/> and <see cref="RetryMaxDelay"/> (and so <see cref="RetryBaseDelay"/>):
    /// about 49.7 days, the longest wait a timer takes.
    /// </summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>The longest <see cref="InstanceName"/>: the lease owner column also holds a claim number.</summary>
    public const int MaxInstanceNameLength = 170;
}
