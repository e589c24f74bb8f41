using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>The worst state among this process's parts of one kind (its relays, say); healthy when there are none.</summary>
internal sealed class ComponentsHealthCheck(DomainEventsHealth health, string kind, string none) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var states = health.Of(kind).Select(c => c.Read()).OrderBy(s => s.Status).ToList();
        if (states.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy(none));
        }

        var worst = states[0];
        var description = string.Join("; ", states.Select(s => s.Description));
        return Task.FromResult(new HealthCheckResult(worst.Status, description, worst.Error));
    }
}
