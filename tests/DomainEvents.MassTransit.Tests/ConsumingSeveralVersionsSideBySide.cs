using System.Diagnostics.Metrics;
using System.Text;
using DomainEvents.MassTransit.Consumers;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Part 1 of issue 4 on the real broker: several versions of one message type in flight at once.</summary>
public sealed class ConsumingSeveralVersionsSideBySide : RabbitMqFixture
{
    [Test]
    public async Task One_consumer_with_a_Consume_per_version_gets_v1_and_v2_each_as_its_own_type()
    {
        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(BothVersionsConsumer), c =>
        {
            c.Bind(Exchange, "order.placed");
            c.QueueName = Queue("both-versions");
        })));
        var v1 = Order.Place(1);
        var v2 = Order.PlaceV2(2, "CHF");

        await host.SaveAsync(v1);
        await host.SaveAsync(v2);

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(BothVersionsConsumer)).Count == 2);
        var byVersion = Deliveries.Of(nameof(BothVersionsConsumer)).ToDictionary(d => d.Envelope.Version);
        byVersion[1].Message.Should().Be(new OrderPlaced(v1.Id, 1));
        byVersion[2].Message.Should().Be(new OrderPlacedV2(v2.Id, 2, "CHF"));
        byVersion.Values.Should().OnlyContain(d => d.Envelope.MessageType == "order.placed" && d.Envelope.RoutingKey == "order.placed");
    }

    [Test]
    public async Task A_consumer_of_v2_only_gets_v1_messages_through_the_upcaster_registered_once()
    {
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureEvents = e => e.AddUpcaster(new OrderPlacedV1ToV2());
            o.Consumers.Add((typeof(LatestVersionConsumer), c =>
            {
                c.Bind(Exchange, "order.placed");
                c.QueueName = Queue("latest-version");
            }));
        });
        var v1 = Order.Place(1);
        var v2 = Order.PlaceV2(2, "CHF");

        await host.SaveAsync(v1);
        await host.SaveAsync(v2);

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(LatestVersionConsumer)).Count == 2);
        var byVersion = Deliveries.Of(nameof(LatestVersionConsumer)).ToDictionary(d => d.Envelope.Version);
        byVersion[1].Message.Should().Be(new OrderPlacedV2(v1.Id, 1, "EUR"), "the upcaster filled in the currency");
        byVersion[2].Message.Should().Be(new OrderPlacedV2(v2.Id, 2, "CHF"));
        byVersion[1].Envelope.Version.Should().Be(1, "the envelope tells the version that was sent, before upcasting");
        (await WireTap.DepthAsync(Queue("latest-version") + "_error")).Should().Be(0);
    }

    [Test]
    public async Task An_unknown_version_goes_to_the_error_queue_once_with_its_reason_even_with_message_retry_configured()
    {
        var retried = 0;
        await StartAsync(relay: false, o =>
        {
            o.ConfigureBus = bus => bus.UseMessageRetry(r =>
            {
                r.Immediate(3);
                r.Handle<Exception>(_ =>
                {
                    Interlocked.Increment(ref retried);
                    return true;
                });
            });
            o.Consumers.Add((typeof(BothVersionsConsumer), c =>
            {
                c.Bind(Exchange, "order.placed");
                c.QueueName = Queue("both-versions");
            }));
        });
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var orderId = Guid.NewGuid();

        await PublishAsync(channel, "order.placed", "3", $$"""{"orderId":"{{orderId}}","sequence":1}""");
        await PublishAsync(channel, "order.placed", "2", $$"""{"orderId":"{{orderId}}","sequence":2,"currency":"EUR"}""");

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(BothVersionsConsumer)).Count == 1, because: "the message after the unknown version is consumed");
        var errors = await WireTap.DrainAsync(Queue("both-versions") + "_error", expected: 2, TimeSpan.FromSeconds(5));
        errors.Should().ContainSingle("a retried message would reach the error queue once per attempt");
        var reason = errors[0].Header("de-error-reason");
        reason.Should().Contain("'order.placed' version 3 is not known").And.Contain("known versions: 1, 2");
        errors[0].Header("MT-Redelivery-Count").Should().BeNull();
        errors[0].Header("MT-Fault-RetryCount").Should().BeNull();
        retried.Should().Be(0, "no exception reached the retry filter");
    }

    [Test]
    public async Task An_ignored_type_is_acknowledged_and_counted_leaves_nothing_in_error_or_skipped_and_the_next_message_is_consumed()
    {
        var queue = Queue("orders");
        long ignored = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ConsumerMetrics.MeterName && instrument.Name == ConsumerMetrics.IgnoredCounterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "domainevents.endpoint" && (string?)tag.Value == queue)
                {
                    Interlocked.Add(ref ignored, value);
                }
            }
        });
        listener.Start();
        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(OrdersConsumer), c =>
        {
            c.Bind(Exchange, "#");
            c.QueueName = queue;
            c.Ignore("invoice.paid");
        })));

        await host.SaveAsync(Invoice.Pay(10m));
        await WaitForAsync(() => Interlocked.Read(ref ignored) == 1, "the ignored message is counted");
        await host.SaveAsync(Order.Place(1));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1, because: "the next message is consumed");
        Deliveries.All.Should().OnlyContain(d => d.Message is OrderPlaced);
        (await WireTap.DepthAsync(queue + "_error")).Should().Be(0);
        (await WireTap.DepthAsync(queue + "_skipped")).Should().Be(0);
        (await WireTap.DepthAsync(queue)).Should().Be(0, "the ignored message was acknowledged, not left unacked or requeued");
        Interlocked.Read(ref ignored).Should().Be(1);
    }

    [Test]
    public async Task With_the_version_in_the_routing_key_a_queue_bound_to_order_placed_v2_gets_only_v2()
    {
        await using var v2Only = await WireTap.StartAsync(Exchange, "order.placed.v2");
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureTransport = t => t.VersionedRoutingKeyExchanges.Add(Exchange);
            o.Consumers.Add((typeof(BothVersionsConsumer), c =>
            {
                c.Bind(Exchange, "order.placed.#");
                c.QueueName = Queue("both-versions");
            }));
        });

        await host.SaveAsync(Order.Place(1));
        await host.SaveAsync(Order.PlaceV2(2, "CHF"));
        await host.SaveAsync(Order.Place(3));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(BothVersionsConsumer)).Count == 3, because: "order.placed.# matches every version");
        Deliveries.Of(nameof(BothVersionsConsumer)).Select(d => (d.Envelope.Version, d.Envelope.RoutingKey, d.TransportRoutingKey))
            .Should().BeEquivalentTo([(1, "order.placed.v1", "order.placed.v1"), (2, "order.placed.v2", "order.placed.v2"), (1, "order.placed.v1", "order.placed.v1")]);
        var tapped = await v2Only.WaitForAsync(1);
        await Task.Delay(500);
        v2Only.Messages.Should().ContainSingle();
        tapped[0].RoutingKey.Should().Be("order.placed.v2");
        tapped[0].Header(IntegrationEventHeaders.Version).Should().Be("2");
        tapped[0].Header(IntegrationEventHeaders.MessageType).Should().Be("order.placed", "the message type keeps its name; only the routing key carries the version");
    }

    private async Task PublishAsync(IChannel channel, string messageType, string version, string body)
    {
        var properties = new BasicProperties
        {
            MessageId = Guid.NewGuid().ToString(),
            ContentType = "application/json",
            Persistent = true,
            Headers = new Dictionary<string, object?> { ["de-message-type"] = messageType, ["de-version"] = version },
        };
        await channel.BasicPublishAsync(Exchange, messageType, mandatory: false, properties, Encoding.UTF8.GetBytes(body));
    }

    private static async Task WaitForAsync(Func<bool> condition, string because)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"Timed out: {because}.");
            }

            await Task.Delay(100);
        }
    }
}
