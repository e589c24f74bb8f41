using System.Diagnostics;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.MassTransit.Tests;

public sealed class SurvivingABrokerRestart : RabbitMqFixture
{
    [Test]
    public async Task Events_saved_while_the_broker_is_down_are_delivered_when_it_comes_back()
    {
        var host = await StartAsync(relay: true, o =>
        {
            AddOrdersConsumerWithInbox(o);
            o.ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks();
        }, r => r.SendTimeout = TimeSpan.FromSeconds(3));
        var saved = new List<Order>();
        for (var i = 0; i < 20; i++)
        {
            saved.Add(Order.Place(i));
            await host.SaveAsync(saved[^1]);
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 20);

        await RabbitMqCtlAsync("stop_app");
        try
        {
            for (var i = 20; i < 60; i++)
            {
                saved.Add(Order.Place(i));
                await host.SaveAsync(saved[^1]);
                await Task.Delay(50);
            }

            // An operator's probe says why nothing goes out: the relay is in an outage (SendTimeout is 3 s here).
            var down = await HealthProbe.WaitForAsync(host, "domainevents-relay", HealthStatus.Unhealthy, TimeSpan.FromSeconds(40));
            down.Description.Should().Contain("the transport is unavailable; rows wait, no attempt is counted");
        }
        finally
        {
            await RabbitMqCtlAsync("start_app");
        }

        for (var i = 60; i < 80; i++)
        {
            saved.Add(Order.Place(i));
            await host.SaveAsync(saved[^1]);
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Select(x => ((OrderPlaced)x.Message).OrderId).Distinct().Count() == 80,
            TimeSpan.FromMinutes(2), "delivery resumes by itself and nothing is lost");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);

        // A consumer records its delivery before the inbox commits: the last commits may still be under way.
        await RelayingToConsumers.WaitForAsync(async () => await billing.Receipts.Select(r => r.OrderId).Distinct().CountAsync() >= 80, seconds: 10);
        (await billing.Receipts.Select(r => r.OrderId).Distinct().CountAsync()).Should().Be(80);
        (await billing.Receipts.CountAsync()).Should().Be(80, "the inbox absorbs any duplicate sent around the outage");
        (await HealthProbe.WaitForAsync(host, "domainevents-relay", HealthStatus.Healthy, TimeSpan.FromSeconds(10))).Description.Should().Contain(": running", "the relay is healthy again once it sends");
    }

    internal static async Task RabbitMqCtlAsync(string command)
    {
        var ctl = Environment.GetEnvironmentVariable("DOMAINEVENTS_TEST_RABBITMQCTL") ?? "rabbitmqctl";
        ProcessStartInfo start = new(ctl, command) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {ctl}.");
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            Assert.Fail($"`{ctl} {command}` failed ({process.ExitCode}): {await process.StandardError.ReadToEndAsync()}. " +
                        "This test restarts the broker: run it where rabbitmqctl controls the test broker, or set DOMAINEVENTS_TEST_RABBITMQCTL.");
        }
    }
}
