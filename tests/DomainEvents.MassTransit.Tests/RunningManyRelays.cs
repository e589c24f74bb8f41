using System.Collections.Concurrent;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace DomainEvents.MassTransit.Tests;

public sealed class RunningManyRelays : RabbitMqFixture
{
    [Test]
    public async Task Four_relays_deliver_ten_thousand_events_over_a_hundred_keys_in_order_and_the_inbox_makes_effects_exactly_once()
    {
        var keys = int.Parse(Environment.GetEnvironmentVariable("DE_KEYS") ?? "100");
        var perKey = int.Parse(Environment.GetEnvironmentVariable("DE_PERKEY") ?? "100");
        var total = keys * perKey;

        var consumers = await StartAsync(relay: false, o => o.Consumers.Add((typeof(OrdersConsumer), c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("orders");
            c.UseInbox<BillingDbContext>();
            c.KeepOrder = false;
        })));
        // A plain queue bound to everything (the consumer endpoint declared the exchange) sees the broker's order exactly as the relays published it.
        var watch = Queue("watch");
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(watch, durable: false, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(watch, Exchange, "#");
        var seen = new ConcurrentQueue<(Guid OrderId, int Sequence)>();
        var watcher = new AsyncEventingBasicConsumer(channel);
        watcher.ReceivedAsync += (_, delivery) =>
        {
            using var body = JsonDocument.Parse(delivery.Body);
            var message = body.RootElement.GetProperty("message");
            seen.Enqueue((message.GetProperty("orderId").GetGuid(), message.GetProperty("sequence").GetInt32()));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(watch, autoAck: true, watcher);

        for (var i = 0; i < 4; i++)
        {
            var name = $"relay-{i}";
            await StartAsync(relay: true, relayOptions: r =>
            {
                r.BatchSize = 100;
                r.InstanceName = name;
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

        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await RelayingToConsumers.WaitForAsync(() => Task.FromResult(seen.Distinct().Count() == total), seconds: 60);
        }
        finally
        {
            var statuses = await consumers.InScopeAsync(db => db.Set<OutboxMessage>().GroupBy(m => new { m.Status, Leased = m.LeaseOwner != null, m.Attempts }).Select(g => new { g.Key, Count = g.Count() }).ToListAsync());
            TestContext.Out.WriteLine($"Outbox after the wait: seen={seen.Count} distinct={seen.Distinct().Count()} deliveries={Deliveries.All.Count} outbox={string.Join(";", statuses.Select(x => $"{x.Key}={x.Count}"))}");
        }
        TestContext.Out.WriteLine($"The broker saw every event after {clock.Elapsed}");
        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == total, TimeSpan.FromMinutes(2), "every event reaches the inbox consumer");

        foreach (var group in seen.GroupBy(s => s.OrderId))
        {
            group.Select(s => s.Sequence).Distinct().Should().Equal(Enumerable.Range(1, perKey), $"the events of order {group.Key} reach the broker in order");
        }

        var duplicates = seen.Count - total;
        TestContext.Out.WriteLine($"Duplicate publishes seen on the broker: {duplicates}");
        Deliveries.Of(nameof(OrdersConsumer)).Should().HaveCount(total, "the inbox consumer handled each message once");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);

        // A consumer records its delivery before the inbox commits: the last commits may still be under way.
        await RelayingToConsumers.WaitForAsync(async () => await billing.Receipts.CountAsync() >= total, seconds: 10);
        (await billing.Receipts.CountAsync()).Should().Be(total, "the inbox turns at-least-once delivery into exactly-once effects");
        (await billing.Receipts.Select(r => r.MessageId).Distinct().CountAsync()).Should().Be(total);
        (await consumers.InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.Status == OutboxMessageStatus.Processed))).Should().Be(total);
    }
}
