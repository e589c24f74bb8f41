using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;

namespace DomainEvents.MassTransit.Tests;

[TestFixture(TestTransport.InMemory, DatabaseProvider.Sqlite)]
[TestFixture(TestTransport.RabbitMq, DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class RelayingToConsumers(TestTransport transport, DatabaseProvider provider) : OrdersAndEverythingFixture(transport, provider)
{
    [Test]
    public async Task An_event_saved_with_its_aggregate_reaches_the_consumer_with_its_envelope()
    {
        var order = Order.Place(7);
        await Host.SaveAsync(order);

        await Host.Services.GetRequiredService<IOutboxDrain>().DrainAsync(TimeSpan.FromSeconds(30), OutboxDrainUntil.Consumed);
        var delivery = Host.Deliveries.Of(nameof(OrdersConsumer)).Single();
        delivery.Message.Should().Be(new OrderPlaced(order.Id, 7));
        var row = (await Host.OutboxAsync()).Single();
        delivery.Envelope.MessageId.Should().Be(row.MessageId);
        delivery.Envelope.MessageType.Should().Be("order.placed");
        delivery.Envelope.Version.Should().Be(1);
        delivery.Envelope.Exchange.Should().Be(Host.Exchange);
        delivery.Envelope.RoutingKey.Should().Be("order.placed");
        delivery.Envelope.PartitionKey.Should().Be($"Order/{order.Id}");
        delivery.Envelope.OccurredAt.Should().BeCloseTo(row.OccurredAt, TimeSpan.FromMilliseconds(1));
        delivery.Envelope.CorrelationId.Should().Be(row.MessageId);

        row = (await Host.OutboxAsync()).Single();
        row.Status.Should().Be(OutboxMessageStatus.Processed);
        row.ProcessedAt.Should().NotBeNull();
        row.LeaseOwner.Should().BeNull();
        row.Attempts.Should().Be(0);
    }

    [Test]
    public async Task A_queue_bound_with_order_star_gets_order_placed_only_and_one_bound_with_hash_gets_both()
    {
        await Host.SaveAsync(Order.Place(1), Invoice.Pay(10m));

        await Host.Services.GetRequiredService<IOutboxDrain>().DrainAsync(TimeSpan.FromSeconds(30), OutboxDrainUntil.Consumed);
        Host.Deliveries.Of(nameof(OrdersConsumer)).Select(d => d.Envelope.RoutingKey).Should().Equal("order.placed");
        Host.Deliveries.Of(nameof(EverythingConsumer)).Select(d => d.Envelope.RoutingKey).Should().BeEquivalentTo("order.placed", "invoice.paid");
    }

    [Test]
    public async Task A_redelivered_message_is_skipped_by_the_inbox_and_has_its_effect_once()
    {
        var order = Order.Place(1);
        await Host.SaveAsync(order);
        await Host.Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1);
        await WaitForAsync(async () => (await Host.OutboxAsync()).Single().Status == OutboxMessageStatus.Processed);

        // Publish the same row again, as a relay that crashed before recording the confirm would.
        await Host.InScopeAsync(db => db.Set<OutboxMessage>().ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxMessageStatus.Pending)));
        await Host.Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Count == 2, because: "the consumer without inbox sees the duplicate");
        await Task.Delay(500);

        Host.Deliveries.Of(nameof(OrdersConsumer)).Should().HaveCount(1, "the inbox skipped the duplicate");
        await using var billing = BillingContext();
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(OrdersConsumer))).Should().Be(1, "the inbox made the effect exactly once");
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(EverythingConsumer))).Should().Be(2, "without the inbox the duplicate has its effect twice");
        (await billing.Set<EntityFrameworkCore.Inbox.InboxMessage>().CountAsync()).Should().Be(1);
        var messageId = (await Host.OutboxAsync()).Single().MessageId;
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

        await Host.SaveAsync(order);
        await Host.Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 20);
        Host.Deliveries.Of(nameof(OrdersConsumer)).Select(d => ((OrderPlaced)d.Message).Sequence).Should().BeInAscendingOrder().And.HaveCount(20);
    }

    private BillingDbContext BillingContext()
    {
        var options = new DbContextOptionsBuilder<BillingDbContext>();
        BillingDatabase.Configure(options);
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
