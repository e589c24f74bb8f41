using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Base for scenarios on the real broker and PostgreSQL: unique names per test, cleaned up after.</summary>
[Category("Integration")]
public abstract class RabbitMqFixture
{
    private readonly List<ServiceHost> _hosts = [];
    private readonly List<string> _queues = [];

    protected string RunId { get; private set; } = null!;

    protected string Exchange => ServiceHost.ExchangeFor(RunId);

    protected TestDatabase Shop { get; private set; } = null!;

    protected TestDatabase Billing { get; private set; } = null!;

    protected Deliveries Deliveries { get; private set; } = new();

    [SetUp]
    public async Task CreateDatabasesAsync()
    {
        RunId = Guid.NewGuid().ToString("N")[..10];
        Deliveries = new Deliveries();
        _hosts.Clear();
        _queues.Clear();
        Shop = await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql);
        Billing = await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql);
    }

    [TearDown]
    public async Task CleanUpAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        await Shop.DisposeAsync();
        await Billing.DisposeAsync();
        await RabbitMqAdmin.DeleteQueuesAsync([.. _queues]);
    }

    protected string Queue(string name)
    {
        var queue = $"{name}-{RunId}";
        _queues.Add(queue);
        return queue;
    }

    protected async Task<ServiceHost> StartAsync(bool relay, Action<ServiceHostOptions>? configure = null, Action<EntityFrameworkCore.Relay.OutboxRelayOptions>? relayOptions = null)
    {
        var options = new ServiceHostOptions
        {
            Transport = TestTransport.RabbitMq,
            ShopDatabase = Shop,
            BillingDatabase = Billing,
            RunId = RunId,
            Relay = relay,
            ConfigureRelay = relayOptions,
            Deliveries = Deliveries,
        };
        configure?.Invoke(options);
        var host = await ServiceHost.StartAsync(options);
        _hosts.Add(host);
        return host;
    }

    protected void AddOrdersConsumerWithInbox(ServiceHostOptions options) =>
        options.Consumers.Add((typeof(OrdersConsumer), c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("orders");
            c.UseInbox<BillingDbContext>();
        }));

    protected void AddEverythingConsumer(ServiceHostOptions options) =>
        options.Consumers.Add((typeof(EverythingConsumer), c =>
        {
            c.Bind(Exchange, "#");
            c.QueueName = Queue("everything");
        }));
}
