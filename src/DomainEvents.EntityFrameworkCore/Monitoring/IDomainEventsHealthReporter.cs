namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>
/// Where the long-running parts of DomainEvents in this process report their state for the health checks of
/// <c>AddDomainEventsHealthChecks</c>: a provider's notification listener reports under <see cref="Notifications"/>.
/// Registered by <c>AddEntityFrameworkOutbox</c>.
/// </summary>
public interface IDomainEventsHealthReporter
{
    /// <summary>The kind read by the <c>domainevents-notifications</c> check: connections that wake relays.</summary>
    const string Notifications = "notifications";

    /// <summary>Adds a part that reports its state; it starts as not running (Unhealthy) until it reports.</summary>
    /// <param name="kind">Which health check reads it, such as <see cref="Notifications"/>.</param>
    /// <param name="name">Its name in that check's description.</param>
    /// <returns>The part's report; dispose it when the part stops for good.</returns>
    IReportedHealth Register(string kind, string name);
}
