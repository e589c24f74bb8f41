using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Ordering.Application;

namespace Ordering.Infrastructure;

public static class InfrastructureServices
{
    /// <summary>
    /// OrderingDbContext with the outbox, the domain event handlers of Ordering.Application, and the relay that
    /// publishes through the host's MassTransit bus (the host calls AddMassTransit and chooses the transport).
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <param name="database">Chooses the database, e.g. <c>o => o.UseNpgsql(connectionString)</c>.</param>
    /// <param name="postgres">On PostgreSQL, a commit wakes the relays of other processes at once (LISTEN/NOTIFY).</param>
    public static IServiceCollection AddOrderingInfrastructure(this IServiceCollection services, Action<DbContextOptionsBuilder> database, bool postgres)
    {
        services.AddDbContext<OrderingDbContext>(database);
        services.AddScoped<IOrders, EfOrders>();
        var domainEvents = services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<LogOrderPlaced>())
            .AddEntityFrameworkOutbox<OrderingDbContext>()
            .AddMassTransitRelay();
        if (postgres)
        {
            domainEvents.AddPostgresNotifications();
        }

        return services;
    }
}
