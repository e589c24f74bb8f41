using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The shop on SQLite and MassTransit's in-memory transport (the embedded default), with its relay and the consumers a
/// test registers, its hosted services started; disposing it stops them and drops the database.
/// </summary>
internal sealed class InMemoryShop : IAsyncDisposable
{
    private readonly TestDatabase _database;
    private readonly ServiceProvider _provider;
    private readonly List<Microsoft.Extensions.Hosting.IHostedService> _hosted;

    private InMemoryShop(TestDatabase database, ServiceProvider provider, List<Microsoft.Extensions.Hosting.IHostedService> hosted) =>
        (_database, _provider, _hosted) = (database, provider, hosted);

    /// <summary>Starts the shop: <paramref name="consumers"/> registers consumers bound to the exchange it is given, <paramref name="bus"/> adds to the bus.</summary>
    public static async Task<InMemoryShop> StartAsync(
        Action<IServiceCollection> services, Action<IBusRegistrationConfigurator, string> consumers, Action<IInMemoryBusFactoryConfigurator>? bus = null)
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var exchange = ServiceHost.ExchangeFor(Guid.NewGuid().ToString("N")[..10]);
        var collection = new ServiceCollection();
        services(collection);
        collection.AddDbContext<ShopDbContext>(o => database.Configure(o));
        collection.AddDomainEvents(o => o.MapIntegrationEvent<OrderPlaced>(m => m.Exchange = exchange))
            .AddEntityFrameworkOutbox<ShopDbContext>()
            .AddMassTransitRelay(r => r.PollingInterval = TimeSpan.FromMilliseconds(100));
        collection.AddLogging();
        collection.AddMassTransit(x =>
        {
            consumers(x, exchange);
            x.UsingInMemory((context, cfg) =>
            {
                bus?.Invoke(cfg);
                cfg.ConfigureIntegrationEventEndpoints(context);
            });
        });
        var provider = collection.BuildServiceProvider();
        await using (var scope = provider.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ShopDbContext>().Database.EnsureCreatedAsync();
        }

        var hosted = provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>().ToList();
        foreach (var service in hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }

        return new InMemoryShop(database, provider, hosted);
    }

    /// <summary>Saves an order with its events.</summary>
    public async Task SaveAsync(Order order)
    {
        await using var scope = _provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
        db.Add(order);
        await db.SaveChangesAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var service in Enumerable.Reverse(_hosted))
        {
            await service.StopAsync(CancellationToken.None);
        }

        await _provider.DisposeAsync();
        await _database.DisposeAsync();
    }
}
