using DomainEvents.MassTransit;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Billing;

public static class BillingServices
{
    /// <summary>Billing's own database, which holds the invoices and the inbox.</summary>
    public static IServiceCollection AddBillingDatabase(this IServiceCollection services, Action<DbContextOptionsBuilder> database) =>
        services.AddDbContext<BillingDbContext>(database);

    /// <summary>The consumers, bound to the "order" exchange with "order.*" and to the "customer" exchange, behind the inbox in BillingDbContext.</summary>
    public static IBusRegistrationConfigurator AddBillingConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddIntegrationEventConsumer<OrderPlacedConsumer>(c => c.Bind("order", "order.*").UseInbox<BillingDbContext>());
        bus.AddIntegrationEventConsumer<CustomerReplica>(c => c
            .Bind("customer", "customer.*")
            .Accept<CustomerChanged>("customer.created", "customer.updated", "customer.deleted")
            .UseInbox<BillingDbContext>());
        return bus;
    }
}
