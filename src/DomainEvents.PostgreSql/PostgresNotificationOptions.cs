using DomainEvents.EntityFrameworkCore.Relay;

namespace DomainEvents.PostgreSql;

/// <summary>Settings of the PostgreSQL wake-up across processes.</summary>
public sealed class PostgresNotificationOptions
{
    /// <summary>The NOTIFY channel (default <c>domainevents_outbox</c>).</summary>
    public const string DefaultChannel = "domainevents_outbox";

    /// <summary>How long the listener waits before it first reconnects after losing its connection (default 2 s); the wait doubles on each failure.</summary>
    public static readonly TimeSpan DefaultReconnectDelay = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait between reconnects (default 60 s).</summary>
    public static readonly TimeSpan DefaultMaxReconnectDelay = TimeSpan.FromSeconds(60);

    /// <summary>How long the listener waits for a notification before it checks that its connection is alive (default 30 s).</summary>
    public static readonly TimeSpan DefaultKeepAliveInterval = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the NOTIFY channel; writers and relays of one outbox must use the same one.</summary>
    public string Channel { get; set; } = DefaultChannel;

    /// <summary>Gets or sets how long the listener waits before it first reconnects; each failure doubles it.</summary>
    public TimeSpan ReconnectDelay { get; set; } = DefaultReconnectDelay;

    /// <summary>Gets or sets the longest wait between reconnects.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = DefaultMaxReconnectDelay;

    /// <summary>Gets or sets how long the listener waits for a notification before it checks its connection.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = DefaultKeepAliveInterval;

    /// <summary>Gets or sets whether this process listens (it runs a relay) (default <see langword="true"/>).</summary>
    public bool Listen { get; set; } = true;

    /// <summary>Gets or sets whether this process notifies after committing outbox rows (default <see langword="true"/>).</summary>
    public bool Notify { get; set; } = true;

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Channel, nameof(Channel));
        if (Channel.Length > 63 || !Channel.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException($"The channel '{Channel}' must be a lower-case PostgreSQL identifier of at most 63 characters (a-z, 0-9, _).", nameof(Channel));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReconnectDelay, TimeSpan.Zero, nameof(ReconnectDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxReconnectDelay, ReconnectDelay, nameof(MaxReconnectDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(KeepAliveInterval, TimeSpan.FromSeconds(1), nameof(KeepAliveInterval));

        // A reconnect delay is waited with a timer (at most OutboxRelayOptions.MaxInterval); the keep-alive interval by Npgsql's
        // wait for a notification, which takes whole milliseconds as an int.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxReconnectDelay, OutboxRelayOptions.MaxInterval, nameof(MaxReconnectDelay));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(KeepAliveInterval, TimeSpan.FromMilliseconds(int.MaxValue), nameof(KeepAliveInterval));
    }
}
