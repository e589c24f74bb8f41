using System.Collections.Concurrent;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The relay is registered before AddMassTransit (as the README shows), so the host would stop the bus first. The relay
/// must finish what it claimed while the bus still runs: a message that reached the broker must not be left pending,
/// to be sent again by the next relay.
/// </summary>
public sealed class StoppingWhileSending : RabbitMqFixture
{
    [Test]
    public async Task Stopping_the_host_mid_backlog_leaves_no_row_leased_and_no_published_message_pending()
    {
        var writer = await StartAsync(relay: false);
        var orders = Enumerable.Range(0, 3000).Select(Order.Place).ToArray();
        await writer.SaveAsync(orders);

        var watch = Queue("watch");
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Topic, durable: true);
        await channel.QueueDeclareAsync(watch, durable: false, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(watch, Exchange, "#");
        var seen = new ConcurrentDictionary<Guid, bool>();
        var watcher = new AsyncEventingBasicConsumer(channel);
        watcher.ReceivedAsync += (_, delivery) =>
        {
            using var body = JsonDocument.Parse(delivery.Body);
            seen[body.RootElement.GetProperty("message").GetProperty("orderId").GetGuid()] = true;
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(watch, autoAck: true, watcher);

        var relay = await StartAsync(relay: true, relayOptions: r => r.BatchSize = 500);
        await RelayingToConsumers.WaitForAsync(() => Task.FromResult(seen.Count >= 300));
        await relay.StopAsync();
        await Task.Delay(500);   // the last confirmed messages reach the watching queue

        var rows = await writer.OutboxAsync();
        rows.Should().NotContain(r => r.LeaseOwner != null, "a stopping relay finishes or releases what it claimed");
        var pendingButPublished = rows.Where(r => r.Status == OutboxMessageStatus.Pending && seen.ContainsKey(OrderIdOf(r))).ToList();
        pendingButPublished.Should().BeEmpty("every message that reached the broker is recorded as processed before the bus stops");
        rows.Count(r => r.Status == OutboxMessageStatus.Processed).Should().Be(seen.Count, "what is processed is exactly what reached the broker");
    }

    private static Guid OrderIdOf(OutboxMessage row)
    {
        using var payload = JsonDocument.Parse(row.Payload);
        return payload.RootElement.GetProperty("orderId").GetGuid();
    }
}
