using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Polls one health check of a host, as an operator's probe would, until it reports a status.</summary>
internal static class HealthProbe
{
    public static async Task<HealthReportEntry> WaitForAsync(ServiceHost host, string check, HealthStatus wanted, TimeSpan within)
    {
        var checks = host.Services.GetRequiredService<HealthCheckService>();
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var entry = (await checks.CheckHealthAsync(r => r.Name == check)).Entries[check];
            if (entry.Status == wanted || DateTime.UtcNow > deadline)
            {
                entry.Status.Should().Be(wanted, $"{check} should say so within {within.TotalSeconds:0} s; it says: {entry.Description}");
                return entry;
            }

            await Task.Delay(50);
        }
    }
}
