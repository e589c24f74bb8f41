using System.Text;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// Messages built by hand with raw RabbitMQ.Client, as a publisher that is not .NET builds them: no de-* headers,
/// often no AMQP message-id. A .NET consumer reads each, and its inbox keys on the envelope's own id.
/// </summary>
public sealed class ConsumingForeignEnvelopes : RabbitMqFixture
{
    [Test]
    public async Task A_plain_json_message_is_consumed_once_keyed_on_its_event_id()
    {
        await StartAsync(relay: false, AddOrdersConsumerWithInbox);
        var orderId = Guid.NewGuid();
        var eventId = Guid.NewGuid();
        var body = $$$"""{"eventId":"{{{eventId}}}","eventTime":"2025-03-01T12:00:00Z","eventType":"order.placed","aggregate":"Order","payload":{"orderId":"{{{orderId}}}","sequence":5}}""";

        await PublishAsync("order.placed", "application/json", body);
        await PublishAsync("order.placed", "application/json", body);
        await PublishAsync("order.placed", "application/json", PlainOrder(Guid.NewGuid(), orderId, 6));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 2);
        var first = Deliveries.Of(nameof(OrdersConsumer))[0];
        first.Message.Should().Be(new OrderPlaced(orderId, 5));
        first.Envelope.MessageId.Should().Be(eventId, "the message id comes from eventId when the AMQP message has none");
        first.Envelope.Envelope.Should().Be(MessageEnvelope.PlainJson);
        first.Envelope.Version.Should().Be(1);
        first.Envelope.OccurredAt.Should().Be(new DateTime(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc));
        first.Envelope.Exchange.Should().Be(Exchange, "without de-* headers the exchange comes from the delivery");
        first.Envelope.RoutingKey.Should().Be("order.placed");
        (await ReceiptsAsync()).Should().BeEquivalentTo([(eventId, 5), (Deliveries.Of(nameof(OrdersConsumer))[1].Envelope.MessageId, 6)],
            "the second copy of the first event was skipped by the inbox");
    }

    [Test]
    public async Task A_plain_json_event_type_with_a_version_suffix_reaches_the_consumer_of_that_version()
    {
        await StartAsync(relay: false, o => o.Consumers.Add((typeof(BothVersionsConsumer), c =>
        {
            c.Bind(Exchange, "order.placed.#");
            c.QueueName = Queue("both-versions");
        })));
        var orderId = Guid.NewGuid();

        await PublishAsync("order.placed.v2", "application/json",
            $$$"""{"eventId":"{{{Guid.NewGuid()}}}","eventTime":"2025-03-01T12:00:00Z","eventType":"order.placed.v2","aggregate":"Order","payload":{"orderId":"{{{orderId}}}","sequence":1,"currency":"SEK"}}""");

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(BothVersionsConsumer)).Count == 1);
        Deliveries.Of(nameof(BothVersionsConsumer)).Single().Message.Should().Be(new OrderPlacedV2(orderId, 1, "SEK"));
        Deliveries.Of(nameof(BothVersionsConsumer)).Single().Envelope.Version.Should().Be(2);
    }

    [Test]
    public async Task A_cloudevent_in_structured_mode_with_a_string_id_is_consumed_once()
    {
        await StartAsync(relay: false, AddOrdersConsumerWithInbox);
        var orderId = Guid.NewGuid();
        var body = $$$"""
            {"specversion":"1.0","id":"order-42","source":"/node/shop","type":"order.placed","subject":"Order/{{{orderId}}}",
             "time":"2025-03-01T12:00:00Z","datacontenttype":"application/json","data":{"orderId":"{{{orderId}}}","sequence":42}}
            """;

        await PublishAsync("order.placed", "application/cloudevents+json", body);
        await PublishAsync("order.placed", "application/cloudevents+json; charset=utf-8", body);
        await PublishAsync("order.placed", "application/cloudevents+json", body.Replace("order-42", "order-43", StringComparison.Ordinal));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 2);
        var first = Deliveries.Of(nameof(OrdersConsumer))[0];
        first.Message.Should().Be(new OrderPlaced(orderId, 42));
        first.Envelope.Envelope.Should().Be(MessageEnvelope.CloudEventsStructured);
        first.Envelope.Source.Should().Be("/node/shop");
        first.Envelope.Subject.Should().Be($"Order/{orderId}");
        first.Envelope.MessageId.Should().Be(Consumers.MessageIds.From("order-42", "/node/shop")!.Value, "an id that is not a UUID becomes a name-based UUID");
        Deliveries.Of(nameof(OrdersConsumer))[1].Envelope.MessageId.Should().NotBe(first.Envelope.MessageId);
        (await ReceiptsAsync()).Should().HaveCount(2, "the second copy of order-42 was skipped by the inbox");
    }

    [Test]
    public async Task Cloudevents_from_two_sources_with_the_same_uuid_id_are_two_messages_to_the_inbox()
    {
        await StartAsync(relay: false, AddOrdersConsumerWithInbox);
        var orderId = Guid.NewGuid();
        var id = Guid.NewGuid();
        string Event(string source, int sequence) => $$$"""
            {"specversion":"1.0","id":"{{{id}}}","source":"{{{source}}}","type":"order.placed",
             "datacontenttype":"application/json","data":{"orderId":"{{{orderId}}}","sequence":{{{sequence}}}}}
            """;

        await PublishAsync("order.placed", "application/cloudevents+json", Event("/shop-a", 1));
        await PublishAsync("order.placed", "application/cloudevents+json", Event("/shop-b", 2));
        await PublishAsync("order.placed", "application/cloudevents+json", Event("/shop-a", 1));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 2);
        await Task.Delay(500);   // the redelivered copy from /shop-a is skipped by now
        Deliveries.Of(nameof(OrdersConsumer)).Select(d => ((OrderPlaced)d.Message).Sequence).Should().BeEquivalentTo([1, 2],
            "a CloudEvent is identified by source and id together: the same id from another source is another event, and a copy from the same source is a duplicate");
    }

    [Test]
    public async Task A_cloudevent_in_binary_mode_is_consumed_with_its_attributes()
    {
        await StartAsync(relay: false, AddOrdersConsumerWithInbox);
        var orderId = Guid.NewGuid();
        var id = Guid.NewGuid();

        await PublishAsync("order.placed", "application/json", $$$"""{"orderId":"{{{orderId}}}","sequence":9}""", headers: new()
        {
            ["cloudEvents_specversion"] = "1.0",
            ["cloudEvents_id"] = id.ToString(),
            ["cloudEvents_source"] = "https://shop.example/orders",
            ["cloudEvents_type"] = "order.placed",
            ["cloudEvents_time"] = "2025-03-01T12:00:00Z",
            ["cloudEvents_partitionkey"] = $"Order/{orderId}",
            ["cloudEvents_version"] = "1",
        });

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1);
        var delivery = Deliveries.Of(nameof(OrdersConsumer)).Single();
        delivery.Message.Should().Be(new OrderPlaced(orderId, 9));
        delivery.Envelope.Envelope.Should().Be(MessageEnvelope.CloudEventsBinary);
        delivery.Envelope.MessageId.Should().Be(id);
        delivery.Envelope.PartitionKey.Should().Be($"Order/{orderId}");
        delivery.Envelope.Source.Should().Be("https://shop.example/orders");
        delivery.Envelope.OccurredAt.Should().Be(new DateTime(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc));
        (await ReceiptsAsync()).Should().ContainSingle().Which.Should().Be((id, 9));
    }

    [Test]
    public async Task A_broken_envelope_goes_to_the_error_queue_with_its_reason()
    {
        await StartAsync(relay: false, AddOrdersConsumerWithInbox);
        var orderId = Guid.NewGuid();

        await PublishAsync("order.placed", "application/cloudevents+json", """{"specversion":"1.0","id":"1","type":"order.placed","data":{}}""", "no-source");
        await PublishAsync("order.placed", "application/json", """{"orderId":"x"}""", "binary-without-id", new() { ["cloudEvents_specversion"] = "1.0", ["cloudEvents_type"] = "order.placed", ["cloudEvents_source"] = "/x" });
        await PublishAsync("order.placed", "application/json", """{"eventType":"order.placed","payload":{}}""", "plain-without-id");
        await PublishAsync("order.placed", "application/json", PlainOrder(Guid.NewGuid(), orderId, 1), "good");

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1, because: "the good message after the broken ones is consumed");
        var errors = (await WireTap.DrainAsync(Queue("orders") + "_error", expected: 3)).ToDictionary(m => m.Header("test-case")!, m => m.Header("de-error-reason"));
        errors.Keys.Should().BeEquivalentTo("no-source", "binary-without-id", "plain-without-id");
        errors["no-source"].Should().Contain("cloudevents-structured message could not be read").And.Contain("source");
        errors["binary-without-id"].Should().Contain("cloudevents-binary message could not be read").And.Contain("id");
        errors["plain-without-id"].Should().Contain("plain-json message could not be read: it has no eventId");
    }

    /// <summary>
    /// What MassTransit 8.5.12 does on its own with <c>application/cloudevents+json</c>, for which it has no deserializer: it
    /// uses the endpoint's default one. With its envelope deserializer as the default the message faults to the error queue;
    /// with raw JSON as the default the whole CloudEvent is handed to the consumer as if it were the payload. Our endpoints
    /// make raw JSON the default and let the receive filter decode the CloudEvent before any consumer sees it.
    /// </summary>
    [TestCase(false)]
    [TestCase(true)]
    public async Task MassTransit_alone_hands_a_structured_cloudevent_to_the_endpoints_default_deserializer(bool rawJsonIsDefault)
    {
        var queue = Queue("bare-masstransit");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<BareOrderConsumer>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(TestServers.RabbitMqUri);
                cfg.ReceiveEndpoint(queue, e =>
                {
                    e.ConfigureConsumeTopology = false;
                    e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: rawJsonIsDefault);
                    e.Bind(Exchange, b => b.RoutingKey = "#");
                    e.ConfigureConsumer<BareOrderConsumer>(context);
                });
            });
        });
        builder.Services.AddSingleton(Deliveries);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            await PublishAsync("order.placed", "application/cloudevents+json",
                $$$"""{"specversion":"1.0","id":"1","source":"/x","type":"order.placed","data":{"orderId":"{{{Guid.NewGuid()}}}","sequence":1}}""");

            if (rawJsonIsDefault)
            {
                await Deliveries.WaitUntilAsync(d => d.All.Count == 1);
                Deliveries.All.Single().Message.Should().Be(new OrderPlaced(Guid.Empty, 0), "the CloudEvent itself was read as the payload: no field matched");
            }
            else
            {
                var error = (await WireTap.DrainAsync(queue + "_error", expected: 1)).Should().ContainSingle().Subject;
                error.Header("MT-Fault-Message").Should().Be("Value cannot be null. (Parameter 'envelope')");
            }
        }
        finally
        {
            await host.StopAsync();
        }
    }

    public sealed class BareOrderConsumer(Deliveries deliveries) : IConsumer<OrderPlaced>
    {
        public Task Consume(ConsumeContext<OrderPlaced> context)
        {
            deliveries.Add(new Delivery(nameof(BareOrderConsumer), context.Message, null!, null));
            return Task.CompletedTask;
        }
    }

    private static string PlainOrder(Guid eventId, Guid orderId, int sequence) =>
        $$$"""{"eventId":"{{{eventId}}}","eventTime":"2025-03-01T12:00:00Z","eventType":"order.placed","aggregate":"Order","payload":{"orderId":"{{{orderId}}}","sequence":{{{sequence}}}}}""";

    private async Task PublishAsync(string routingKey, string contentType, string body, string? testCase = null, Dictionary<string, object?>? headers = null)
    {
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        headers ??= [];
        if (testCase is not null)
        {
            headers["test-case"] = testCase;
        }

        // No message-id: foreign publishers often set none, and the envelope's own id must serve.
        var properties = new BasicProperties { ContentType = contentType, Persistent = true, Headers = headers };
        await channel.BasicPublishAsync(Exchange, routingKey, mandatory: false, properties, Encoding.UTF8.GetBytes(body));
    }

    private async Task<List<(Guid MessageId, int Sequence)>> ReceiptsAsync()
    {
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        return (await billing.Receipts.OrderBy(r => r.Id).Select(r => new { r.MessageId, r.Sequence }).ToListAsync()).Select(r => (r.MessageId, r.Sequence)).ToList();
    }
}
