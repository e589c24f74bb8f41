using System.Text.Json;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A consumer that is not .NET: tests/node-consumer reads our CloudEvents (structured and binary) and plain-JSON
/// messages with amqplib, validates the CloudEvents with the cloudevents npm package, and publishes a plain-JSON
/// message that our .NET consumer handles.
/// </summary>
public sealed class ReadingOurEventsFromNode : RabbitMqFixture
{
    private static readonly Uri Source = new("urn:domainevents:tests:shop");

    [Test]
    public async Task A_node_consumer_validates_our_cloudevents_and_plain_json_and_its_plain_json_reaches_our_consumer()
    {
        var script = await NodeConsumer.PrepareAsync();
        var nodeQueue = $"node-consumer-{RunId}";
        await DeclareQueueAsync(nodeQueue);
        try
        {
            var host = await StartAsync(relay: true, o =>
            {
                o.ConfigureTransport = t =>
                {
                    t.CloudEvents.Source = Source;
                    t.EnvelopeByMessageType["order.placed"] = MessageEnvelope.CloudEventsStructured;
                    t.EnvelopeByMessageType["invoice.paid"] = MessageEnvelope.CloudEventsBinary;
                    t.EnvelopeByMessageType["invoice.refunded"] = MessageEnvelope.PlainJson;
                };
                AddOrdersConsumerWithInbox(o);
            });
            var order = Order.Place(5);
            var invoice = Invoice.Pay(12.5m);
            invoice.Refund();
            await host.SaveAsync(order, invoice);
            var rows = (await host.OutboxAsync()).ToDictionary(r => r.MessageType);

            var nodeOrderId = Guid.NewGuid();
            var run = await NodeConsumer.RunAsync(script, new()
            {
                ["AMQP_URI"] = TestServers.RabbitMqUri.ToString(),
                ["EXCHANGE"] = Exchange,
                ["QUEUE"] = nodeQueue,
                ["EXPECT"] = "3",
                ["PUBLISH_ORDER_ID"] = nodeOrderId.ToString(),
            });

            TestContext.Out.WriteLine(run.Output);
            run.ExitCode.Should().Be(0, $"every message is valid; stdout: {run.Output} stderr: {run.Errors}");
            using var summary = JsonDocument.Parse(run.Output);
            var received = summary.RootElement.GetProperty("received").EnumerateArray().ToDictionary(m => m.GetProperty("envelope").GetString()!);
            received.Keys.Should().BeEquivalentTo("cloudevents-structured", "cloudevents-binary", "plain-json");

            var structured = received["cloudevents-structured"];
            structured.GetProperty("valid").GetBoolean().Should().BeTrue();
            structured.GetProperty("id").GetString().Should().Be(rows["order.placed"].MessageId.ToString());
            structured.GetProperty("type").GetString().Should().Be("order.placed");
            structured.GetProperty("source").GetString().Should().Be(Source.OriginalString);
            structured.GetProperty("subject").GetString().Should().Be($"Order/{order.Id}");
            structured.GetProperty("version").GetInt32().Should().Be(1);
            structured.GetProperty("data").GetProperty("orderId").GetGuid().Should().Be(order.Id);

            var binary = received["cloudevents-binary"];
            binary.GetProperty("valid").GetBoolean().Should().BeTrue();
            binary.GetProperty("id").GetString().Should().Be(rows["invoice.paid"].MessageId.ToString());
            binary.GetProperty("type").GetString().Should().Be("invoice.paid");
            binary.GetProperty("datacontenttype").GetString().Should().Be("application/json");
            binary.GetProperty("partitionkey").GetString().Should().Be($"Invoice/{invoice.Id}");
            binary.GetProperty("data").GetProperty("amount").GetDecimal().Should().Be(12.5m);

            var plain = received["plain-json"];
            plain.GetProperty("valid").GetBoolean().Should().BeTrue();
            plain.GetProperty("eventId").GetGuid().Should().Be(rows["invoice.refunded"].MessageId);
            plain.GetProperty("eventType").GetString().Should().Be("invoice.refunded");
            plain.GetProperty("aggregate").GetString().Should().Be("Invoice");
            plain.GetProperty("payload").GetProperty("invoiceId").GetGuid().Should().Be(invoice.Id);

            var published = summary.RootElement.GetProperty("published");
            var eventId = published.GetProperty("eventId").GetGuid();
            await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Any(x => x.Envelope.MessageId == eventId), because: "the .NET consumer handles the node publisher's plain JSON");
            var fromNode = Deliveries.Of(nameof(OrdersConsumer)).Single(x => x.Envelope.MessageId == eventId);
            fromNode.Message.Should().Be(new OrderPlaced(nodeOrderId, 99));
            fromNode.Envelope.Envelope.Should().Be(MessageEnvelope.PlainJson);
        }
        finally
        {
            await RabbitMqAdmin.DeleteQueuesAsync(nodeQueue);
        }
    }

    /// <summary>The node script's queue, declared before the relay publishes so it misses nothing.</summary>
    private async Task DeclareQueueAsync(string queue)
    {
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true, autoDelete: false);
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(queue, Exchange, "#");
    }
}
