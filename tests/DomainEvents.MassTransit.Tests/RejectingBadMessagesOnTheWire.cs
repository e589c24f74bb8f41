using System.Text;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

public sealed class RejectingBadMessagesOnTheWire : RabbitMqFixture
{
    [Test]
    public async Task Each_bad_message_lands_in_the_error_queue_with_its_reason_and_the_consumer_keeps_running()
    {
        await StartAsync(relay: false, AddOrdersConsumerWithInbox);
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var orderId = Guid.NewGuid();

        await PublishAsync(channel, "broken-json", "order.placed", "application/vnd.masstransit+json", "{ not json", ("de-message-type", "order.placed"), ("de-version", "1"));
        await PublishAsync(channel, "unknown-type", "order.exploded", "application/json", "{}", ("de-message-type", "order.exploded"), ("de-version", "1"));
        await PublishAsync(channel, "unknown-version", "order.placed", "application/json", $$"""{"orderId":"{{orderId}}","sequence":1}""", ("de-message-type", "order.placed"), ("de-version", "9"));
        await PublishAsync(channel, "missing-headers", "order.placed", "application/vnd.masstransit+json",
            $$$"""{"messageId":"{{{Guid.NewGuid()}}}","messageType":["urn:message:Someone.Else:Thing"],"message":{}}""");
        await PublishAsync(channel, "broken-plain-json", "order.placed", "application/json", "[1, 2", ("de-message-type", "order.placed"), ("de-version", "1"));
        await PublishAsync(channel, "untyped-json", "order.placed", "application/json", $$"""{"orderId":"{{orderId}}","sequence":7}""");
        await PublishAsync(channel, NoMessageId, "order.placed", "application/json", $$"""{"orderId":"{{orderId}}","sequence":8}""", ("de-message-type", "order.placed"), ("de-version", "1"));
        await PublishAsync(channel, "good", "order.placed", "application/json", $$"""{"orderId":"{{orderId}}","sequence":2}""", ("de-message-type", "order.placed"), ("de-version", "1"));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1, because: "the good message after the bad ones is consumed");
        ((OrderPlaced)Deliveries.Of(nameof(OrdersConsumer)).Single().Message).Sequence.Should().Be(2);

        var errors = await ReadErrorQueueAsync(channel, Queue("orders") + "_error", expected: 7);
        errors.Keys.Should().BeEquivalentTo("broken-json", "broken-plain-json", "unknown-type", "unknown-version", "missing-headers", "untyped-json", NoMessageId);
        errors[NoMessageId].Should().Contain("could not be read: it has no message id", "the inbox cannot tell a redelivery of it, and says so");
        errors["broken-plain-json"].Should().Contain("invalid end of a number", "the JSON reader names the fault");
        errors["broken-json"].Should().Contain("invalid start of a property name", "the JSON reader names the fault");
        errors["unknown-type"].Should().Contain("'order.exploded' is not registered");
        errors["unknown-version"].Should().Contain("version 9 is not known").And.Contain("known versions: 1");
        errors["missing-headers"].Should().Contain("no consumer on this endpoint accepts").And.NotContain("is not registered", "no sentence stands where a type name goes");
        errors["untyped-json"].Should().Contain("without a de-message-type header").And.Contain("no consumer on this endpoint accepts");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        (await billing.Receipts.Select(r => r.Sequence).ToListAsync()).Should().Equal([2], "no consumer ran for a message it could not type");
    }

    [Test]
    public async Task A_body_over_the_consumers_maximum_goes_to_the_error_queue_unread_with_its_size()
    {
        await StartAsync(relay: false, o => o.Consumers.Add((typeof(OrdersConsumer), c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("orders");
            c.UseInbox<BillingDbContext>();
            c.MaxMessageBytes = 4096;
        })));
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var orderId = Guid.NewGuid();
        var padding = new string('x', 8000);

        await PublishAsync(channel, "too-large", "order.placed", "application/json", $$"""{"orderId":"{{orderId}}","sequence":1,"note":"{{padding}}"}""", ("de-message-type", "order.placed"), ("de-version", "1"));
        // Not JSON at all: had anything parsed it, the reason would be the parser's.
        await PublishAsync(channel, "too-large-unparsable", "order.placed", "application/json", "{ " + padding, ("de-message-type", "order.placed"), ("de-version", "1"));
        await PublishAsync(channel, "good", "order.placed", "application/json", $$"""{"orderId":"{{orderId}}","sequence":2}""", ("de-message-type", "order.placed"), ("de-version", "1"));

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1, because: "the message after the large one is consumed");
        ((OrderPlaced)Deliveries.Of(nameof(OrdersConsumer)).Single().Message).Sequence.Should().Be(2, "the large one never reached the consumer");
        var errors = await ReadErrorQueueAsync(channel, Queue("orders") + "_error", expected: 2);
        errors["too-large"].Should().Contain("over this consumer's maximum of 4096 bytes");
        errors["too-large-unparsable"].Should().Contain("over this consumer's maximum of 4096 bytes", "the size is checked before any deserializer reads the body");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        (await billing.Receipts.CountAsync()).Should().Be(1);
    }

    /// <summary>The test case published without an AMQP message-id.</summary>
    private const string NoMessageId = "no-message-id";

    private async Task PublishAsync(IChannel channel, string name, string routingKey, string contentType, string body, params (string Key, string Value)[] headers)
    {
        var properties = new BasicProperties
        {
            MessageId = name == NoMessageId ? null : Guid.NewGuid().ToString(),
            ContentType = contentType,
            Persistent = true,
            Headers = headers.Append(("test-case", name)).ToDictionary(h => h.Item1, h => (object?)h.Item2),
        };
        await channel.BasicPublishAsync(Exchange, routingKey, mandatory: false, properties, Encoding.UTF8.GetBytes(body));
    }

    private static async Task<Dictionary<string, string>> ReadErrorQueueAsync(IChannel channel, string queue, int expected)
    {
        var reasons = new Dictionary<string, string>();
        var until = DateTime.UtcNow.AddSeconds(20);
        while (reasons.Count < expected && DateTime.UtcNow < until)
        {
            var message = await channel.BasicGetAsync(queue, autoAck: true);
            if (message is null)
            {
                await Task.Delay(100);
                continue;
            }

            var headers = message.BasicProperties.Headers!;
            reasons[Text(headers["test-case"])] =
                headers.TryGetValue("de-error-reason", out var reason) ? Text(reason)
                : headers.TryGetValue("MT-Fault-Message", out var fault) ? Text(fault)
                : "<no reason header>";
        }

        return reasons;
    }

    private static string Text(object? value) => value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : value?.ToString() ?? "";
}
