using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;

namespace DomainEvents.MassTransit.Tests;

[TestFixture(TestTransport.InMemory, DatabaseProvider.Sqlite)]
[TestFixture(TestTransport.RabbitMq, DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class RelayingToConsumers(TestTransport transport, DatabaseProvider provider)
{
    private TestDatabase _shop = null!;
    private TestDatabase _billing = null!;
    private ServiceHost _host = null!;
    private string _runId = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _runId = Guid.NewGuid().ToString("N")[..10];
        _shop = await TestDatabase.CreateAsync(provider);
        _billing = await TestDatabase.CreateAsync(provider);
        var options = new ServiceHostOptions
        {
            Transport = transport, ShopDatabase = _shop, BillingDatabase = _billing, RunId = _runId,
            ConfigureServices = s => s.AddIntegrationEventDrain(),
        };
        var exchange = ServiceHost.ExchangeFor(_runId);
        options.Consumers.Add((typeof(OrdersConsumer), c =>
        {
            c.Bind(exchange, "order.*");
            c.QueueName = $"orders-{_runId}";
            c.UseInbox<BillingDbContext>();
        }));
        options.Consumers.Add((typeof(EverythingConsumer), c =>
        {
            c.Bind(exchange, "#");
            c.QueueName = $"everything-{_runId}";
        }));
        _host = await ServiceHost.StartAsync(options);
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _host.DisposeAsync();
        await _shop.DisposeAsync();
        await _billing.DisposeAsync();
        if (transport == TestTransport.RabbitMq)
        {
            await RabbitMqAdmin.DeleteQueuesAsync($"orders-{_runId}", $"everything-{_runId}");
        }
    }

    [Test]
    public async Task An_event_saved_with_its_aggregate_reaches_the_consumer_with_its_envelope()
    {
        var order = Order.Place(7);
        await _host.SaveAsync(order);

        await _host.Services.GetRequiredService<IOutboxDrain>().DrainAsync(TimeSpan.FromSeconds(30), OutboxDrainUntil.Consumed);
        var delivery = _host.Deliveries.Of(nameof(OrdersConsumer)).Single();
        delivery.Message.Should().Be(new OrderPlaced(order.Id, 7));
        var row = (await _host.OutboxAsync()).Single();
        delivery.Envelope.MessageId.Should().Be(row.MessageId);
        delivery.Envelope.MessageType.Should().Be("order.placed");
        delivery.Envelope.Version.Should().Be(1);
        delivery.Envelope.Exchange.Should().Be(_host.Exchange);
        delivery.Envelope.RoutingKey.Should().Be("order.placed");
        delivery.Envelope.PartitionKey.Should().Be($"Order/{order.Id}");
        delivery.Envelope.OccurredAt.Should().BeCloseTo(row.OccurredAt, TimeSpan.FromMilliseconds(1));
        delivery.Envelope.CorrelationId.Should().Be(row.MessageId);

        row = (await _host.OutboxAsync()).Single();
        row.Status.Should().Be(OutboxMessageStatus.Processed);
        row.ProcessedAt.Should().NotBeNull();
        row.LeaseOwner.Should().BeNull();
        row.Attempts.Should().Be(0);
    }

    [Test]
    public async Task A_queue_bound_with_order_star_gets_order_placed_only_and_one_bound_with_hash_gets_both()
    {
        await _host.SaveAsync(Order.Place(1), Invoice.Pay(10m));

        await _host.Services.GetRequiredService<IOutboxDrain>().DrainAsync(TimeSpan.FromSeconds(30), OutboxDrainUntil.Consumed);
        _host.Deliveries.Of(nameof(OrdersConsumer)).Select(d => d.Envelope.RoutingKey).Should().Equal("order.placed");
        _host.Deliveries.Of(nameof(EverythingConsumer)).Select(d => d.Envelope.RoutingKey).Should().BeEquivalentTo("order.placed", "invoice.paid");
    }

    [Test]
    public async Task A_redelivered_message_is_skipped_by_the_inbox_and_has_its_effect_once()
    {
        var order = Order.Place(1);
        await _host.SaveAsync(order);
        await _host.Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1);
        await WaitForAsync(async () => (await _host.OutboxAsync()).Single().Status == OutboxMessageStatus.Processed);

        // Publish the same row again, as a relay that crashed before recording the confirm would.
        await _host.InScopeAsync(db => db.Set<OutboxMessage>().ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxMessageStatus.Pending)));
        await _host.Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Count == 2, because: "the consumer without inbox sees the duplicate");
        await Task.Delay(500);

        _host.Deliveries.Of(nameof(OrdersConsumer)).Should().HaveCount(1, "the inbox skipped the duplicate");
        await using var billing = BillingContext();
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(OrdersConsumer))).Should().Be(1, "the inbox made the effect exactly once");
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(EverythingConsumer))).Should().Be(2, "without the inbox the duplicate has its effect twice");
        (await billing.Set<EntityFrameworkCore.Inbox.InboxMessage>().CountAsync()).Should().Be(1);
        var messageId = (await _host.OutboxAsync()).Single().MessageId;
        (await billing.Set<EntityFrameworkCore.Inbox.InboxMessage>().CountAsync(m => m.MessageId == messageId && m.Consumer == typeof(OrdersConsumer).FullName))
            .Should().Be(1, "the inbox row is keyed by the message id as EF Core stores it, so queries through the model find it");
    }

    [Test]
    public async Task Several_events_of_one_aggregate_arrive_in_the_order_they_were_raised()
    {
        var order = Order.Create();
        for (var i = 1; i <= 20; i++)
        {
            order.PlaceAgain(i);
        }

        await _host.SaveAsync(order);
        await _host.Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 20);
        _host.Deliveries.Of(nameof(OrdersConsumer)).Select(d => ((OrderPlaced)d.Message).Sequence).Should().BeInAscendingOrder().And.HaveCount(20);
    }

    private BillingDbContext BillingContext()
    {
        var options = new DbContextOptionsBuilder<BillingDbContext>();
        _billing.Configure(options);
        return new BillingDbContext(options.Options);
    }

    internal static async Task WaitForAsync(Func<Task<bool>> condition, int seconds = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail("Timed out waiting for the condition.");
            }

            await Task.Delay(100);
        }
    }
}
