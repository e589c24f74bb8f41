using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.MassTransit.Consumers;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Lets integration tests wait for this host's consumers.</summary>
public static class IntegrationEventDrainExtensions
{
    /// <summary>
    /// Lets <see cref="IOutboxDrain.DrainAsync"/> with <see cref="OutboxDrainUntil.Consumed"/> wait until the consumers of
    /// this host (endpoints made by <c>ConfigureIntegrationEventEndpoints</c>) have handled what the outbox published.
    /// It waits for the rows committed after the host started (rows processed before are waited for until confirmed only).
    /// For test hosts: it remembers every message id it sees while the host runs.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddIntegrationEventDrain(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(IntegrationEventDrainWatcher)))
        {
            return services;
        }

        services.AddSingleton(sp => new IntegrationEventDrainWatcher(sp.GetService<DomainEvents.MassTransit.MassTransitRelayOptions>()));
        services.AddSingleton<IOutboxConsumptionWatcher>(sp => sp.GetRequiredService<IntegrationEventDrainWatcher>());
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostedService, DrainBaselineService>();
        return services;
    }
}
