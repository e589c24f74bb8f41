using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests;

public sealed class RunningManyRelays : RabbitMqFixture
{
    [Test]
    public async Task Four_relays_deliver_ten_thousand_events_over_a_hundred_keys_in_order_and_the_inbox_makes_effects_exactly_once()
    {
        const int keys = 100;
        const int perKey = 100;
        var consumers = await StartAsync(relay: false, o =>
        {
            AddOrdersConsumerWithInbox(o);
            AddEverythingConsumer(o);
        });
        for (var i = 0; i < 4; i++)
        {
            await StartAsync(relay: true, relayOptions: r =>
            {
                r.BatchSize = 100;
                r.InstanceName = $"relay-{i}";
            });
        }

        var orders = Enumerable.Range(0, keys).Select(_ => Order.Create()).ToArray();
        for (var round = 1; round <= perKey; round += 10)
        {
            // Ten events per aggregate per transaction, ten transactions per aggregate, all while the relays run.
            foreach (var order in orders)
            {
                for (var s = round; s < round + 10; s++)
                {
                    order.PlaceAgain(s);
                }
            }

            await consumers.InScopeAsync(async db =>
            {
                foreach (var order in orders)
                {
                    if (round == 1)
                    {
                        db.Add(order);
                    }
                    else
                    {
                        db.Attach(order);
                        db.Entry(order).Property(o => o.Placed).IsModified = true;
                    }
                }

                return await db.SaveChangesAsync();
            });
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Select(x => ((OrderPlaced)x.Message)).Distinct().Count() == keys * perKey,
            TimeSpan.FromMinutes(3), "every event reaches the consumer without inbox");
        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == keys * perKey, TimeSpan.FromMinutes(1), "every event reaches the inbox consumer");

        foreach (var consumer in new[] { nameof(EverythingConsumer), nameof(OrdersConsumer) })
        {
            foreach (var group in Deliveries.Of(consumer).Select(d => (OrderPlaced)d.Message).GroupBy(m => m.OrderId))
            {
                var firstArrivals = group.Select(m => m.Sequence).Distinct().ToList();
                firstArrivals.Should().Equal(Enumerable.Range(1, perKey), $"{consumer} sees the events of order {group.Key} in order");
            }
        }

        var duplicates = Deliveries.Of(nameof(EverythingConsumer)).Count - (keys * perKey);
        TestContext.Out.WriteLine($"Duplicate deliveries seen without inbox: {duplicates}");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(OrdersConsumer))).Should().Be(keys * perKey, "the inbox turns at-least-once delivery into exactly-once effects");
        (await billing.Receipts.Where(r => r.Consumer == nameof(OrdersConsumer)).Select(r => r.MessageId).Distinct().CountAsync()).Should().Be(keys * perKey);

        var owners = await consumers.InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.Status == OutboxMessageStatus.Processed));
        owners.Should().Be(keys * perKey);
    }
}
