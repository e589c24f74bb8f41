using System.Diagnostics;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>A commit in one process wakes the relay in another at once with LISTEN/NOTIFY; without it the relay waits for its poll.</summary>
[Category("Integration")]
public sealed class WakingRelaysInOtherProcesses
{
    private TestDatabase _shop = null!;

    [SetUp]
    public async Task CreateDatabaseAsync() => _shop = await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql);

    [TearDown]
    public async Task DropDatabaseAsync() => await _shop.DisposeAsync();

    [TestCase(true)]
    [TestCase(false)]
    public async Task A_row_committed_by_another_process_is_relayed_at_once_only_with_notifications(bool notifications)
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        Action<DomainEventsBuilder>? notify = notifications ? b => b.AddPostgresNotifications() : null;
        await using var writer = await ServiceHost.StartAsync(new ServiceHostOptions
        {
            Transport = TestTransport.InMemory, ShopDatabase = _shop, RunId = runId, Relay = false,
            ConfigureBuilder = notify is null ? null : b => b.AddPostgresNotifications(o => o.Listen = false),
        });
        var relayOptions = new ServiceHostOptions
        {
            Transport = TestTransport.InMemory, ShopDatabase = _shop, RunId = runId, Relay = true,
            ConfigureRelay = r => r.PollingInterval = TimeSpan.FromSeconds(20),
            ConfigureBuilder = notify,
        };
        relayOptions.Consumers.Add((typeof(OrdersConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "#")));
        await using var relay = await ServiceHost.StartAsync(relayOptions);
        await Task.Delay(TimeSpan.FromSeconds(1));

        var clock = Stopwatch.StartNew();
        await writer.SaveAsync(Order.Place(1));

        if (notifications)
        {
            await relay.Deliveries.WaitUntilAsync(d => d.All.Count == 1, TimeSpan.FromSeconds(5), "NOTIFY wakes the relay in the other process");
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        }
        else
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            relay.Deliveries.All.Should().BeEmpty("without notifications the other process's relay is waiting for its 20 s poll");
        }
    }
}
