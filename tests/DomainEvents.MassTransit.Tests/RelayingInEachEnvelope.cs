using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Text.Json;
using DomainEvents.MassTransit.Consumers;
using DomainEvents.MassTransit.Tests.Model;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Part 2 of issue 4: the relay writes each envelope, and a .NET consumer reads each back.</summary>
public sealed class RelayingInEachEnvelope : RabbitMqFixture
{
    private static readonly Uri Source = new("urn:domainevents:tests:shop");
    private static readonly ActivitySource Tracing = new("DomainEvents.MassTransit.Tests.Envelopes");

    [TestCase(MessageEnvelope.MassTransit, "application/vnd.masstransit+json")]
    [TestCase(MessageEnvelope.PlainJson, "application/json")]
    [TestCase(MessageEnvelope.CloudEventsStructured, "application/cloudevents+json; charset=utf-8")]
    [TestCase(MessageEnvelope.CloudEventsBinary, "application/json")]
    public async Task Each_envelope_round_trips_to_a_dotnet_consumer_with_its_metadata(MessageEnvelope envelope, string contentType)
    {
        await using var tap = await WireTap.StartAsync(Exchange, "#");
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureTransport = t =>
            {
                t.Envelope = envelope;
                t.CloudEvents.Source = Source;
            };
            o.ConfigureBuilder = b => b.AddHeaderEnricher((_, h) => h.Set("tenant", "acme"));
            AddOrdersConsumerWithInbox(o);
        });
        var order = Order.Place(7);
        using var listener = new ActivityListener { ShouldListenTo = s => s.Name == Tracing.Name, Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded };
        ActivitySource.AddActivityListener(listener);
        string traceParent;
        using (var activity = Tracing.StartActivity("place order")!)
        {
            traceParent = activity.Id!;
            await host.SaveAsync(order);
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1);
        var delivery = Deliveries.Of(nameof(OrdersConsumer)).Single();
        var row = (await host.OutboxAsync()).Single();
        delivery.Message.Should().Be(new OrderPlaced(order.Id, 7));
        delivery.Envelope.Should().BeEquivalentTo(
            new IntegrationEventEnvelope(row.MessageId, "order.placed", 1, Exchange, "order.placed", $"Order/{order.Id}", row.OccurredAt, row.MessageId, null)
            {
                Envelope = envelope,
                Source = envelope is MessageEnvelope.CloudEventsStructured or MessageEnvelope.CloudEventsBinary ? Source.OriginalString : null,
                Subject = envelope is MessageEnvelope.CloudEventsStructured or MessageEnvelope.CloudEventsBinary ? $"Order/{order.Id}" : null,
                Headers = new Dictionary<string, string> { ["tenant"] = "acme" },
            },
            o => o.Using<DateTime>(c => c.Subject.Should().BeCloseTo(c.Expectation, TimeSpan.FromMilliseconds(1))).WhenTypeIs<DateTime>());

        var wire = (await tap.WaitForAsync(1)).Single();
        TestContext.Out.WriteLine($"--- {envelope} ---");
        TestContext.Out.WriteLine(wire.Describe());
        wire.Properties.ContentType.Should().Be(contentType);
        wire.Properties.MessageId.Should().Be(row.MessageId.ToString());
        wire.RoutingKey.Should().Be("order.placed");
        wire.Header(IntegrationEventHeaders.MessageType).Should().Be("order.placed");
        wire.Header(IntegrationEventHeaders.Version).Should().Be("1");
        wire.Header(IntegrationEventHeaders.Envelope).Should().Be(MessageEnvelopeNames.NameOf(envelope));
        wire.Header(IntegrationEventHeaders.TraceParent).Should().Be(traceParent, "every envelope carries the trace of the saving transaction");
        using var body = JsonDocument.Parse(wire.Body);
        var root = body.RootElement;
        switch (envelope)
        {
            case MessageEnvelope.MassTransit:
                root.GetProperty("messageId").GetGuid().Should().Be(row.MessageId);
                root.GetProperty("message").GetRawText().Should().Be(row.Payload, "the stored payload is copied byte for byte");
                root.GetProperty("headers").GetProperty("tenant").GetString().Should().Be("acme", "MassTransit consumers read it from context.Headers");
                wire.Header("tenant").Should().Be("acme");
                break;
            case MessageEnvelope.PlainJson:
                root.EnumerateObject().Select(p => p.Name).Should().Equal("eventId", "eventTime", "eventType", "aggregate", "payload");
                root.GetProperty("eventId").GetGuid().Should().Be(row.MessageId);
                root.GetProperty("eventType").GetString().Should().Be("order.placed");
                root.GetProperty("aggregate").GetString().Should().Be("Order");
                root.GetProperty("payload").GetRawText().Should().Be(row.Payload, "the stored payload is copied byte for byte");
                wire.Header("tenant").Should().Be("acme");
                break;
            case MessageEnvelope.CloudEventsStructured:
                root.GetProperty("specversion").GetString().Should().Be("1.0");
                root.GetProperty("id").GetString().Should().Be(row.MessageId.ToString());
                root.GetProperty("source").GetString().Should().Be(Source.OriginalString);
                root.GetProperty("type").GetString().Should().Be("order.placed");
                root.GetProperty("subject").GetString().Should().Be($"Order/{order.Id}");
                root.GetProperty("version").GetInt32().Should().Be(1);
                root.GetProperty("partitionkey").GetString().Should().Be($"Order/{order.Id}");
                root.GetProperty("data").GetProperty("orderId").GetGuid().Should().Be(order.Id);
                root.GetProperty("traceparent").GetString().Should().Be(traceParent);
                root.GetProperty("tenant").GetString().Should().Be("acme", "an enricher's header is an extension attribute");
                break;
            case MessageEnvelope.CloudEventsBinary:
                wire.BodyText.Should().Be(row.Payload, "the body is the stored payload itself");
                wire.Header("cloudEvents_specversion").Should().Be("1.0");
                wire.Header("cloudEvents_id").Should().Be(row.MessageId.ToString());
                wire.Header("cloudEvents_source").Should().Be(Source.OriginalString);
                wire.Header("cloudEvents_type").Should().Be("order.placed");
                wire.Header("cloudEvents_subject").Should().Be($"Order/{order.Id}");
                wire.Header("cloudEvents_version").Should().Be("1");
                wire.Header("cloudEvents_partitionkey").Should().Be($"Order/{order.Id}");
                wire.Header("cloudEvents_time").Should().NotBeNull();
                wire.Header("cloudEvents_traceparent").Should().Be(traceParent);
                wire.Header("cloudEvents_datacontenttype").Should().BeNull("the binding carries it as the AMQP content-type");
                wire.Header("cloudEvents_tenant").Should().Be("acme", "an enricher's header is an extension attribute");
                break;
        }
    }

    [Test]
    public async Task The_envelope_is_chosen_by_message_type_before_exchange_before_the_default()
    {
        await using var tap = await WireTap.StartAsync(Exchange, "#");
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureTransport = t =>
            {
                t.Envelope = MessageEnvelope.MassTransit;
                t.EnvelopeByExchange[Exchange] = MessageEnvelope.CloudEventsBinary;
                t.EnvelopeByMessageType["invoice.paid"] = MessageEnvelope.PlainJson;
                t.CloudEvents.Source = Source;
            };
            AddEverythingConsumer(o);
        });

        await host.SaveAsync(Order.Place(1), Invoice.Pay(12.5m));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Count == 2);
        Deliveries.Of(nameof(EverythingConsumer)).ToDictionary(d => d.Envelope.MessageType, d => d.Envelope.Envelope)
            .Should().BeEquivalentTo(new Dictionary<string, MessageEnvelope> { ["order.placed"] = MessageEnvelope.CloudEventsBinary, ["invoice.paid"] = MessageEnvelope.PlainJson });
        var wire = (await tap.WaitForAsync(2)).ToDictionary(m => m.RoutingKey);
        wire["order.placed"].Header("cloudEvents_type").Should().Be("order.placed");
        wire["invoice.paid"].Properties.ContentType.Should().Be("application/json");
        wire["invoice.paid"].BodyText.Should().StartWith("{\"eventId\":");
    }

    [Test]
    public async Task A_cloudevent_whose_type_carries_the_version_reaches_the_consumer_of_that_version()
    {
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureTransport = t =>
            {
                t.Envelope = MessageEnvelope.CloudEventsStructured;
                t.CloudEvents.Source = Source;
                t.CloudEvents.TypeIncludesVersion = true;
            };
            o.Consumers.Add((typeof(BothVersionsConsumer), c =>
            {
                c.Bind(Exchange, "order.placed");
                c.QueueName = Queue("both-versions");
            }));
        });
        var v2 = Order.PlaceV2(4, "GBP");

        await host.SaveAsync(Order.Place(3), v2);

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(BothVersionsConsumer)).Count == 2);
        Deliveries.Of(nameof(BothVersionsConsumer)).Select(d => d.Message).Should().ContainEquivalentOf(new OrderPlacedV2(v2.Id, 4, "GBP"));
        Deliveries.Of(nameof(BothVersionsConsumer)).Select(d => d.Envelope.Version).Should().BeEquivalentTo([1, 2]);
    }

    [Test]
    public async Task Plain_json_with_the_version_in_the_routing_key_names_the_version_in_the_event_type_too()
    {
        await using var tap = await WireTap.StartAsync(Exchange, "order.placed.*");
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureTransport = t =>
            {
                t.Envelope = MessageEnvelope.PlainJson;
                t.VersionedRoutingKeyMessageTypes.Add("order.placed");
            };
            o.Consumers.Add((typeof(BothVersionsConsumer), c =>
            {
                c.Bind(Exchange, "order.placed.#");
                c.QueueName = Queue("both-versions");
            }));
        });

        await host.SaveAsync(Order.PlaceV2(1, "EUR"));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(BothVersionsConsumer)).Count == 1);
        Deliveries.Of(nameof(BothVersionsConsumer)).Single().Message.Should().BeOfType<OrderPlacedV2>();
        var wire = (await tap.WaitForAsync(1)).Single();
        wire.RoutingKey.Should().Be("order.placed.v2");
        using var body = JsonDocument.Parse(wire.Body);
        body.RootElement.GetProperty("eventType").GetString().Should().Be("order.placed.v2", "routing key = event type");
    }
}
