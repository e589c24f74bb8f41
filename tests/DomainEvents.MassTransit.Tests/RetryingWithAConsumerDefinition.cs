using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>An integration event consumer keeps MassTransit's own consumer definition and retry policy.</summary>
public sealed class RetryingWithAConsumerDefinition
{
    [Test]
    public async Task A_consumer_that_fails_twice_is_retried_by_its_definition_and_handles_the_event_once()
    {
        await using var shop = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var runId = Guid.NewGuid().ToString("N")[..10];
        var deliveries = new Deliveries { FailuresToInject = 2 };
        var services = new ServiceCollection();
        services.AddSingleton(deliveries);
        services.AddDbContext<ShopDbContext>(o => shop.Configure(o));
        services.AddDomainEvents(o => o.MapIntegrationEvent<OrderPlaced>(m => m.Exchange = ServiceHost.ExchangeFor(runId)))
            .AddEntityFrameworkOutbox<ShopDbContext>()
            .AddMassTransitRelay(r => r.PollingInterval = TimeSpan.FromMilliseconds(100));
        services.AddLogging();
        services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<OrdersConsumer, RetryTwice>(c => c.Bind(ServiceHost.ExchangeFor(runId), "order.*"));
            x.UsingInMemory((context, cfg) => cfg.ConfigureIntegrationEventEndpoints(context));
        });
        await using var provider = services.BuildServiceProvider();
        await using (var scope = provider.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ShopDbContext>().Database.EnsureCreatedAsync();
        }

        var hosted = provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }

        try
        {
            await using (var scope = provider.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
                db.Add(Order.Place(1));
                await db.SaveChangesAsync();
            }

            await deliveries.WaitUntilAsync(d => d.All.Count == 1);
            await Task.Delay(300);
            deliveries.All.Should().ContainSingle("two failures were retried in memory, then the consumer succeeded once");
            deliveries.FailuresToInject.Should().BeLessThan(0, "the consumer was called three times");
            RetryTwice.Applied.Should().BeTrue();
        }
        finally
        {
            foreach (var service in Enumerable.Reverse(hosted))
            {
                await service.StopAsync(CancellationToken.None);
            }
        }
    }

    private sealed class RetryTwice : ConsumerDefinition<OrdersConsumer>
    {
        public static bool Applied { get; private set; }

        protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<OrdersConsumer> consumerConfigurator, IRegistrationContext context)
        {
            Applied = true;
            consumerConfigurator.UseMessageRetry(r => r.Immediate(2));
        }
    }
}
