using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A service with two consumers: OrdersConsumer bound with <c>order.*</c> behind an inbox, and EverythingConsumer bound
/// with <c>#</c>; the drain watcher is on. Queues and databases are unique per test and removed after it.
/// </summary>
public abstract class OrdersAndEverythingFixture(TestTransport transport, DatabaseProvider provider)
{
    private TestDatabase _shop = null!;

    protected ServiceHost Host { get; private set; } = null!;

    protected TestDatabase BillingDatabase { get; private set; } = null!;

    protected string RunId { get; private set; } = null!;

    [SetUp]
    public async Task StartAsync()
    {
        RunId = Guid.NewGuid().ToString("N")[..10];
        _shop = await TestDatabase.CreateAsync(provider);
        BillingDatabase = await TestDatabase.CreateAsync(provider);
        var options = new ServiceHostOptions
        {
            Transport = transport, ShopDatabase = _shop, BillingDatabase = BillingDatabase, RunId = RunId,
            ConfigureServices = s => s.AddIntegrationEventDrain(),
        };
        var exchange = ServiceHost.ExchangeFor(RunId);
        options.Consumers.Add((typeof(OrdersConsumer), c =>
        {
            c.Bind(exchange, "order.*");
            c.QueueName = $"orders-{RunId}";
            c.UseInbox<BillingDbContext>();
        }));
        options.Consumers.Add((typeof(EverythingConsumer), c =>
        {
            c.Bind(exchange, "#");
            c.QueueName = $"everything-{RunId}";
        }));
        Host = await ServiceHost.StartAsync(options);
    }

    [TearDown]
    public async Task StopAsync()
    {
        await Host.DisposeAsync();
        await _shop.DisposeAsync();
        await BillingDatabase.DisposeAsync();
        if (transport == TestTransport.RabbitMq)
        {
            await RabbitMqAdmin.DeleteQueuesAsync($"orders-{RunId}", $"everything-{RunId}");
        }
    }
}
