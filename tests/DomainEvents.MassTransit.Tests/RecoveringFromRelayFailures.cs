using System.Text;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

public sealed class RecoveringFromRelayFailures : RabbitMqFixture
{
    [Test]
    public async Task An_exchange_the_broker_refuses_to_this_user_kills_only_its_rows_and_counts_only_its_attempts()
    {
        // A real ACCESS_REFUSED (403): the relay's user may write to every exchange but the "forbidden-" ones.
        var user = $"relay-{RunId}";
        var forbidden = $"forbidden-{RunId}";
        await SurvivingABrokerRestart.RabbitMqCtlAsync($"add_user {user} secret");
        try
        {
            await SurvivingABrokerRestart.RabbitMqCtlAsync($"set_permissions -p / {user} .* ^(?!forbidden-).* .*");
            var broker = new UriBuilder(TestServers.RabbitMqUri) { UserName = user, Password = "secret" }.Uri;
            var host = await StartAsync(relay: true, o =>
            {
                o.RabbitMqUri = broker;
                o.ConfigureEvents = e => e.MapIntegrationEvent<InvoicePaid>(m => m.Exchange = forbidden);
            }, r =>
            {
                r.MaxAttempts = 3;
                r.SendTimeout = TimeSpan.FromSeconds(2);
                r.LeaseDuration = TimeSpan.FromSeconds(10);
            });

            var orders = Enumerable.Range(1, 5).Select(Order.Place).ToArray();
            await host.SaveAsync([Invoice.Pay(10m), .. orders]);

            await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).Count(r => r.Status != OutboxMessageStatus.Pending) == 6, seconds: 60);
            var rows = await host.OutboxAsync();
            var dead = rows.Should().ContainSingle(r => r.Status == OutboxMessageStatus.Dead, string.Join("\n", rows.Select(r => $"{r.MessageType} {r.Status} {r.Attempts} {r.LastError}"))).Subject;
            dead.MessageType.Should().Be("invoice.paid");
            dead.Attempts.Should().Be(3, "each refusal by the broker is an attempt");
            dead.LastError.Should().Contain("ACCESS_REFUSED").And.Contain(forbidden);
            rows.Where(r => r.MessageType == "order.placed").Should().HaveCount(5)
                .And.OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.Attempts == 0, "the channel the broker closed for the forbidden exchange costs the other exchange no attempt");
        }
        finally
        {
            await SurvivingABrokerRestart.RabbitMqCtlAsync($"delete_user {user}");
        }
    }

    [Test]
    public async Task A_message_that_cannot_be_published_goes_dead_without_holding_back_other_keys_and_a_retry_delivers_it()
    {
        // The broker refuses to redeclare an existing direct exchange as topic: every publish of InvoicePaid fails.
        var poison = $"poison-{RunId}";
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using (var setup = await connection.CreateChannelAsync())
        {
            await setup.ExchangeDeclareAsync(poison, ExchangeType.Direct, durable: true);
        }

        var host = await StartAsync(relay: true, o =>
        {
            AddEverythingConsumer(o);
            o.ConfigureEvents = e => e.MapIntegrationEvent<InvoicePaid>(m => m.Exchange = poison);
        }, r =>
        {
            r.MaxAttempts = 4;
            r.SendTimeout = TimeSpan.FromSeconds(2);
            r.LeaseDuration = TimeSpan.FromSeconds(10);
        });

        var invoice = Invoice.Pay(10m);
        invoice.Refund();
        var orders = Enumerable.Range(1, 5).Select(Order.Place).ToArray();
        await host.SaveAsync([invoice, .. orders]);

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Count(x => x.Message is OrderPlaced) == 5, because: "other partition keys keep flowing");
        Deliveries.All.Should().NotContain(d => d.Message is InvoiceRefunded, "the refund waits behind the failing payment of the same invoice");

        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).Any(r => r.Status == OutboxMessageStatus.Dead));
        var rows = await host.OutboxAsync();
        rows.Where(r => r.Status == OutboxMessageStatus.Dead).Should().ContainSingle(string.Join("\n", rows.Select(r => $"{r.MessageType} {r.Status} {r.Attempts} {r.LastError}")));
        var dead = rows.Single(r => r.Status == OutboxMessageStatus.Dead);
        dead.MessageType.Should().Be("invoice.paid");
        dead.Attempts.Should().Be(4);
        dead.LastError.Should().Contain("poison-").And.Contain("refused").And.Contain("PRECONDITION_FAILED", "only the broker's own refusal counts as an attempt");
        await Deliveries.WaitUntilAsync(d => d.All.Any(x => x.Message is InvoiceRefunded), because: "a dead row no longer holds back its partition");

        // An operator fixes the exchange and retries the dead row.
        await using (var fix = await connection.CreateChannelAsync())
        {
            await fix.ExchangeDeleteAsync(poison);
            await fix.ExchangeDeclareAsync(poison, ExchangeType.Topic, durable: true);
            await fix.QueueDeclareAsync(Queue("poison-watch"), durable: false, exclusive: false, autoDelete: false);
            await fix.QueueBindAsync(Queue("poison-watch"), poison, "#");
        }

        await using (var scope = host.Services.CreateAsyncScope())
        {
            var admin = scope.ServiceProvider.GetRequiredService<IOutboxAdministration>();
            (await admin.ListDeadAsync()).Select(r => r.MessageId).Should().Equal(dead.MessageId);
            (await admin.RetryDeadAsync(dead.MessageId)).Should().Be(1);
        }

        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed));
        await using var channel = await connection.CreateChannelAsync();
        var delivered = await channel.BasicGetAsync(Queue("poison-watch"), autoAck: true);
        delivered.Should().NotBeNull();
        Encoding.UTF8.GetString(delivered!.Body.Span).Should().Contain(invoice.Id.ToString());
    }

    [Test]
    public async Task Rows_left_leased_by_a_crashed_relay_are_delivered_once_the_lease_expires()
    {
        var writer = await StartAsync(relay: false);
        var orders = Enumerable.Range(1, 50).Select(Order.Place).ToArray();
        await writer.SaveAsync(orders);

        // A relay claimed everything and died before publishing: its leases run for a few more seconds.
        var leasedUntil = DateTime.UtcNow.AddSeconds(6);
        await writer.InScopeAsync(db => db.Set<OutboxMessage>().ExecuteUpdateAsync(s => s
            .SetProperty(m => m.LeaseOwner, "crashed-relay")
            .SetProperty(m => m.LeaseExpiresAt, leasedUntil)));

        await StartAsync(relay: true, AddOrdersConsumerWithInbox);
        await Task.Delay(TimeSpan.FromSeconds(1));
        DateTime.UtcNow.Should().BeBefore(leasedUntil.AddSeconds(-1), "the check below must happen while the leases are valid");
        Deliveries.All.Should().BeEmpty("the leases are still valid");

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 50);
        DateTime.UtcNow.Should().BeOnOrAfter(leasedUntil);
        Deliveries.Of(nameof(OrdersConsumer)).Select(d => ((OrderPlaced)d.Message).OrderId).Should().OnlyHaveUniqueItems()
            .And.BeEquivalentTo(orders.Select(o => o.Id));
        await RelayingToConsumers.WaitForAsync(async () => (await writer.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed));
    }

    [Test]
    public async Task A_queue_at_its_length_limit_that_rejects_publishes_holds_back_only_its_key_and_kills_no_row()
    {
        var full = Queue("full");
        var other = Queue("other-route");
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await DeclareFullOrdersQueueAsync(channel, full, other);

        var order = Order.Place(1);
        order.PlaceAgain(2);
        order.PlaceAgain(3);
        var host = await StartAsync(relay: true, o => o.ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks(), relayOptions: r =>
        {
            r.MaxAttempts = 2;
            r.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
            r.MaxOutagePause = TimeSpan.FromSeconds(10);
            r.SendTimeout = TimeSpan.FromSeconds(1);
            r.LeaseDuration = TimeSpan.FromSeconds(4);
        });
        await host.SaveAsync(order);

        // The first event fills the queue; the broker nacks the next ones for as long as nobody consumes.
        await RelayingToConsumers.WaitForAsync(async () => (await channel.QueueDeclarePassiveAsync(full)).MessageCount == 1);
        (await HealthProbe.WaitForAsync(host, "domainevents-relay", Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, TimeSpan.FromSeconds(5)))
            .Description.Should().Contain("back-pressure", "the relay says why rows wait");
        await Task.Delay(TimeSpan.FromSeconds(4));
        var rows = await host.OutboxAsync();
        rows.Should().OnlyContain(r => r.Status != OutboxMessageStatus.Dead && r.Attempts == 0,
            "a nack is the queue's back-pressure, not the message's fault: " + string.Join("\n", rows.Select(r => $"{r.MessageType} {r.Status} {r.Attempts} {r.LastError}")));

        // Another key flows meanwhile: the relay did not pause (it would be seconds into a pause after 4 s of nacks,
        // which double up to MaxOutagePause).
        var saved = DateTime.UtcNow;
        await host.SaveAsync(Invoice.Pay(10m));
        await RelayingToConsumers.WaitForAsync(async () => (await channel.QueueDeclarePassiveAsync(other)).MessageCount == 1, seconds: 10);
        (DateTime.UtcNow - saved).Should().BeLessThan(TimeSpan.FromSeconds(1.5), "only the nacked key waits");

        // A consumer takes the messages one at a time: each is let in after the one before, in order.
        var received = new List<int>();
        await RelayingToConsumers.WaitForAsync(async () =>
        {
            if (await channel.BasicGetAsync(full, autoAck: true) is { } message)
            {
                var body = Encoding.UTF8.GetString(message.Body.Span);
                received.Add(int.Parse(System.Text.RegularExpressions.Regex.Match(body, "\"sequence\"\\s*:\\s*(\\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }

            return received.Count == 3;
        }, seconds: 30);
        received.Should().Equal([1, 2, 3], "the events of one order arrive in order, each once");
        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed && r.Attempts == 0));
    }

    [Test]
    public async Task Rows_a_full_queue_rejects_at_the_front_of_the_table_do_not_starve_other_keys()
    {
        var full = Queue("full-front");
        var other = Queue("other-front");
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await DeclareFullOrdersQueueAsync(channel, full, other);

        // Written by another process, so that only claims over the table find them: 30 orders the full queue will
        // reject, then one invoice behind them.
        var writer = await StartAsync(relay: false);
        await writer.SaveAsync(Enumerable.Range(1, 30).Select(Order.Place).ToArray());
        await writer.SaveAsync(Invoice.Pay(10m));

        var relay = await StartAsync(relay: true, relayOptions: r =>
        {
            r.BatchSize = 5;
            r.SendTimeout = TimeSpan.FromSeconds(2);
            r.LeaseDuration = TimeSpan.FromSeconds(20);
        });

        await RelayingToConsumers.WaitForAsync(async () => (await channel.QueueDeclarePassiveAsync(other)).MessageCount == 1, seconds: 10);
        var rows = await relay.OutboxAsync();
        rows.Should().OnlyContain(r => r.Status != OutboxMessageStatus.Dead && r.Attempts == 0, "a nack costs no attempt");
        rows.Count(r => r.Status == OutboxMessageStatus.Processed && r.MessageType == "order.placed").Should().Be(1, "the full queue took one order");
    }

    /// <summary>
    /// A queue of orders that takes one message and then makes RabbitMQ nack every publish routed to it (x-max-length 1,
    /// x-overflow reject-publish), and a plain queue of invoices on the same exchange.
    /// </summary>
    private async Task DeclareFullOrdersQueueAsync(IChannel channel, string full, string other)
    {
        await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true);
        await channel.QueueDeclareAsync(full, durable: false, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-max-length"] = 1, ["x-overflow"] = "reject-publish" });
        await channel.QueueBindAsync(full, Exchange, "order.*");
        await channel.QueueDeclareAsync(other, durable: false, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(other, Exchange, "invoice.*");
    }
}
