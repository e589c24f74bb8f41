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

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IntegrationEventDrainWatcher>();
        services.AddSingleton<IOutboxConsumptionWatcher>(sp => sp.GetRequiredService<IntegrationEventDrainWatcher>());
        return services;
    }
}
