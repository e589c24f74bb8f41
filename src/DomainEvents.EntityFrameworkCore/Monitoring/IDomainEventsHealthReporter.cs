namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>
/// Where the long-running parts of DomainEvents in this process report their state for the health checks of
/// <c>AddDomainEventsHealthChecks</c>: a provider's notification listener reports under <see cref="Notifications"/>, an
/// inbox's clean-up under <see cref="InboxCleanup"/>, an inbox consumer that keeps order under
/// <see cref="InboxConsumers"/>. Registered by <c>AddEntityFrameworkOutbox</c> and by <c>AddDomainEventsHealthReporter</c>.
/// </summary>
public interface IDomainEventsHealthReporter
{
    /// <summary>The kind read by the <c>domainevents-notifications</c> check: connections that wake relays.</summary>
    const string Notifications = "notifications";

    /// <summary>The kind read by the <c>domainevents-inbox-cleanup</c> check: services that delete old inbox rows.</summary>
    const string InboxCleanup = "inbox-cleanup";

    /// <summary>
    /// The kind read by the <c>domainevents-inbox</c> check: consumers behind an inbox that keep order, degraded while one
    /// holds a message until its database answers.
    /// </summary>
    const string InboxConsumers = "inbox-consumers";

    /// <summary>Adds a part that reports its state; it starts as not running (Unhealthy) until it reports.</summary>
    /// <param name="kind">Which health check reads it, such as <see cref="Notifications"/>.</param>
    /// <param name="name">Its name in that check's description.</param>
    /// <param name="stalledAfter">
    /// If set, a part whose last report was Healthy reads as Unhealthy once that report is older than this: for a part that
    /// works in rounds and could hang. A part that reported a problem keeps that status.
    /// </param>
    /// <returns>The part's report; dispose it when the part stops for good.</returns>
    IReportedHealth Register(string kind, string name, TimeSpan? stalledAfter = null);
}
