namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>What waits in one exchange's part of the outbox.</summary>
/// <param name="Exchange">The exchange the rows go to.</param>
/// <param name="Pending">Rows not yet confirmed (leased ones included).</param>
/// <param name="Leased">Pending rows a relay is sending now.</param>
/// <param name="Dead">Rows that went dead and wait for an operator.</param>
/// <param name="OldestPendingOccurredAtUtc">When the oldest pending row's event occurred, or <see langword="null"/> when none is pending.</param>
public sealed record OutboxExchangeBacklog(string Exchange, int Pending, int Leased, int Dead, DateTime? OldestPendingOccurredAtUtc);

/// <summary>One reading of the outbox: what waits, per exchange. Read with <c>IOutboxAdministration.GetBacklogAsync</c>.</summary>
/// <param name="ReadAtUtc">When it was read (the reading process's clock).</param>
/// <param name="Exchanges">Each exchange with pending or dead rows.</param>
public sealed record OutboxBacklog(DateTime ReadAtUtc, IReadOnlyList<OutboxExchangeBacklog> Exchanges)
{
    /// <summary>Gets the pending rows of every exchange.</summary>
    public int Pending => Exchanges.Sum(e => e.Pending);

    /// <summary>Gets the leased rows of every exchange.</summary>
    public int Leased => Exchanges.Sum(e => e.Leased);

    /// <summary>Gets the dead rows of every exchange.</summary>
    public int Dead => Exchanges.Sum(e => e.Dead);

    /// <summary>Gets how long the oldest pending row has waited since its event occurred, or <see langword="null"/> when none is pending.</summary>
    public TimeSpan? OldestPendingAge => AgeOf(Exchanges.Min(e => e.OldestPendingOccurredAtUtc));

    /// <summary>Gets how long the oldest pending row of one exchange has waited.</summary>
    /// <param name="exchange">The exchange's backlog, from <see cref="Exchanges"/>.</param>
    /// <returns>The age, or <see langword="null"/> when none of its rows is pending.</returns>
    public TimeSpan? OldestPendingAgeOf(OutboxExchangeBacklog exchange)
    {
        ArgumentNullException.ThrowIfNull(exchange);
        return AgeOf(exchange.OldestPendingOccurredAtUtc);
    }

    private TimeSpan? AgeOf(DateTime? occurredAt) =>
        occurredAt is { } at ? (ReadAtUtc > at ? ReadAtUtc - at : TimeSpan.Zero) : null;
}
