namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>Thresholds of the health checks added by <c>AddDomainEventsHealthChecks()</c>.</summary>
public sealed class DomainEventsHealthCheckOptions
{
    /// <summary>Gets or sets the age of the oldest pending row above which the outbox is degraded (default 1 minute).</summary>
    public TimeSpan DegradedLag { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets the age of the oldest pending row above which the outbox is unhealthy (default 5 minutes).</summary>
    public TimeSpan UnhealthyLag { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how many dead rows make the outbox degraded (default 1: any). 0 turns this off.</summary>
    public int DegradedDeadRows { get; set; } = 1;

    /// <summary>Gets or sets how long one reading of the outbox serves health checks (default 10 s), so frequent probes cost one reading.</summary>
    public TimeSpan BacklogReuse { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets the tags of every check (default <c>domainevents</c>); add <c>ready</c> or <c>live</c> to fit your probes.</summary>
    public IList<string> Tags { get; } = ["domainevents"];

    internal void Validate()
    {
        if (DegradedLag <= TimeSpan.Zero || UnhealthyLag < DegradedLag)
        {
            throw new ArgumentException($"{nameof(DegradedLag)} must be positive and {nameof(UnhealthyLag)} at least as long.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(DegradedDeadRows);
        ArgumentOutOfRangeException.ThrowIfLessThan(BacklogReuse, TimeSpan.Zero);
    }
}
