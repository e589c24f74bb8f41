using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A RabbitMQ memory alarm blocks every publishing connection without closing it: sends wait, and the bus still says
/// it is healthy. That is back-pressure, not the messages' fault: it must cost no attempt and kill no row.
/// </summary>
public sealed class SurvivingABrokerMemoryAlarm : RabbitMqFixture
{
    [Test]
    public async Task An_alarm_longer_than_the_whole_back_off_schedule_kills_no_row_and_every_event_arrives_once_it_clears()
    {
        var host = await StartAsync(relay: true, AddOrdersConsumerWithInbox, r =>
        {
            // Three attempts with back-off of at most 1 s: the old rules had every waiting row dead within seconds.
            r.MaxAttempts = 3;
            r.SendTimeout = TimeSpan.FromSeconds(1);
            r.LeaseDuration = TimeSpan.FromSeconds(4);
        });
        var orders = Enumerable.Range(0, 10).Select(Order.Place).ToList();
        await host.SaveAsync([.. orders]);
        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 10);

        await SurvivingABrokerRestart.RabbitMqCtlAsync("set_vm_memory_high_watermark 0.0001");
        try
        {
            for (var i = 10; i < 40; i++)
            {
                orders.Add(Order.Place(i));
                await host.SaveAsync(orders[^1]);
                await Task.Delay(200);   // six seconds of alarm while events keep coming
            }

            await Task.Delay(TimeSpan.FromSeconds(4));
            (await host.OutboxAsync()).Should().NotContain(r => r.Status == OutboxMessageStatus.Dead, "a blocked broker kills no row");
        }
        finally
        {
            await SurvivingABrokerRestart.RabbitMqCtlAsync("set_vm_memory_high_watermark 0.4");
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Select(x => ((OrderPlaced)x.Message).OrderId).Distinct().Count() == 40,
            TimeSpan.FromMinutes(1), "every event arrives once the alarm clears");
        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed));
        var rows = await host.OutboxAsync();
        rows.Should().OnlyContain(r => r.Attempts == 0, "back-pressure is not charged to the messages");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);

        // A consumer records its delivery before the inbox commits: the last commits may still be under way.
        await RelayingToConsumers.WaitForAsync(async () => await billing.Receipts.CountAsync() >= 40, seconds: 10);
        (await billing.Receipts.CountAsync()).Should().Be(40, "the inbox applies each event once");
    }

    [Test]
    public async Task A_connection_the_broker_blocks_is_an_outage_at_once_with_the_brokers_reason_and_costs_no_attempt()
    {
        var host = await StartAsync(relay: true, o =>
        {
            AddOrdersConsumerWithInbox(o);
            o.ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks();
        }, r =>
        {
            // Far beyond the test's waits: only the broker's connection.blocked can tell the relay in time, not a timeout.
            r.SendTimeout = TimeSpan.FromMinutes(3);
            r.LeaseDuration = TimeSpan.FromMinutes(12);
        });
        await host.SaveAsync(Order.Place(0));
        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1);

        await SurvivingABrokerRestart.RabbitMqCtlAsync("set_vm_memory_high_watermark 0.0001");
        try
        {
            // The broker says connection.blocked when the blocked connection next publishes: this send waits for the alarm
            // to clear (its SendTimeout is far away); the sends after the notification are refused at once, as an outage.
            await host.SaveAsync(Order.Place(1));
            await Task.Delay(TimeSpan.FromSeconds(2));
            for (var i = 2; i <= 5; i++)
            {
                await host.SaveAsync(Order.Place(i));
                await Task.Delay(TimeSpan.FromMilliseconds(300));
            }

            var down = await HealthProbe.WaitForAsync(host, "domainevents-relay", HealthStatus.Unhealthy, TimeSpan.FromSeconds(20));
            down.Description.Should().Contain("blocked publishing").And.Contain("memory", "the broker's own reason is named");
            (await host.OutboxAsync()).Should().OnlyContain(r => r.Attempts == 0);
        }
        finally
        {
            await SurvivingABrokerRestart.RabbitMqCtlAsync("set_vm_memory_high_watermark 0.4");
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 6, TimeSpan.FromMinutes(1), "sends resume when the broker unblocks");
        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed));
        (await host.OutboxAsync()).Should().OnlyContain(r => r.Attempts == 0, "back-pressure is not charged to the messages");
    }
}
