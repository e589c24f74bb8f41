using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>The state one part reports to <see cref="IDomainEventsHealthReporter"/>; dispose it to remove the part.</summary>
public interface IReportedHealth : IDisposable
{
    /// <summary>Working as it should.</summary>
    /// <param name="description">What it is doing, such as "listening".</param>
    void Healthy(string description);

    /// <summary>Not working as it should; the first report of a status keeps its time, shown as "since".</summary>
    /// <param name="status">Degraded or Unhealthy.</param>
    /// <param name="description">What is wrong and what happens meanwhile.</param>
    /// <param name="error">The error, if any.</param>
    void Problem(HealthStatus status, string description, Exception? error = null);
}
