using System.Diagnostics.Metrics;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A consumer behind the inbox changes its data and publishes the next event through its own context's outbox: the
/// inbox row, the change and the outbox row commit together, so a message delivered twice has its effect and its next
/// event once.
/// </summary>
public sealed class PublishingFromAConsumer : RabbitMqFixture
{
    [Test]
    public async Task A_message_delivered_twice_stores_one_shipment_and_publishes_one_next_event()
    {
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureBuilder = b => b.AddHeaderEnricher((_, h) => h.Set("tenant", "acme"));
            o.Consumers.Add((typeof(ShippingConsumer), c =>
            {
                c.Bind(Exchange, "order.placed");
                c.QueueName = Queue("shipping");
                c.UseInbox<ShopDbContext>();
            }));
            o.Consumers.Add((typeof(ShipmentsConsumer), c =>
            {
                c.Bind(Exchange, "shipment.requested");
                c.QueueName = Queue("shipments");
            }));
        });
        var duplicates = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "domainevents.consumer.duplicates")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Value is string consumer && consumer.Contains(nameof(ShippingConsumer), StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref duplicates);
                }
            }
        });
        listener.Start();

        var order = Order.Place(3);
        await host.SaveAsync(order);
        await Deliveries.WaitUntilAsync(d => d.Of(nameof(ShipmentsConsumer)).Count == 1);

        // The relay publishes order.placed again, as one that crashed before recording the confirm would.
        await host.InScopeAsync(db => db.Set<OutboxMessage>().Where(m => m.MessageType == "order.placed")
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxMessageStatus.Pending)));
        await WaitForAsync(() => Task.FromResult(Volatile.Read(ref duplicates) == 1), "the inbox skips the second delivery");
        await WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed), "the relay is idle");

        var rows = await host.OutboxAsync();
        rows.Select(r => r.MessageType).Should().BeEquivalentTo(["order.placed", "shipment.requested"], "the next event was published once");
        (await host.InScopeAsync(db => db.Shipments.CountAsync(s => s.OrderId == order.Id))).Should().Be(1, "the effect happened once");
        (await host.InScopeAsync(db => db.Set<EntityFrameworkCore.Inbox.InboxMessage>().CountAsync())).Should().Be(1);

        var placed = rows.Single(r => r.MessageType == "order.placed");
        var next = Deliveries.Of(nameof(ShipmentsConsumer)).Should().ContainSingle().Which;
        next.Message.Should().Be(new ShipmentRequested(order.Id, 3));
        next.Envelope.PartitionKey.Should().Be($"Order/{order.Id}", "it is ordered with the order's own events");
        next.Envelope.CausationId.Should().Be(placed.MessageId, "it names the message whose handling raised it");
        next.Envelope.CorrelationId.Should().Be(placed.MessageId, "it stays in the conversation the order started");
        next.Envelope.Headers.Should().Equal(new Dictionary<string, string> { ["tenant"] = "acme" }, "the consumer's scope ran the header enricher");
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out: {because}.");
            }

            await Task.Delay(100);
        }
    }
}
