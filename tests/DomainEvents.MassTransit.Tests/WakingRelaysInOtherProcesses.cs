using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

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

    [Test]
    public async Task The_listener_uses_the_contexts_data_source_and_comes_back_after_its_connection_is_killed()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var madeByDataSource = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        var builder = new Npgsql.NpgsqlDataSourceBuilder(_shop.ConnectionString);
        builder.UsePhysicalConnectionInitializer(
            connection => madeByDataSource[connection.ProcessID] = true,
            connection =>
            {
                madeByDataSource[connection.ProcessID] = true;
                return Task.CompletedTask;
            });
        await using var dataSource = builder.Build();
        await using var writer = await ServiceHost.StartAsync(new ServiceHostOptions
        {
            Transport = TestTransport.InMemory, ShopDatabase = _shop, RunId = runId, Relay = false,
            ConfigureBuilder = b => b.AddPostgresNotifications(o => o.Listen = false),
        });
        var relayOptions = new ServiceHostOptions
        {
            Transport = TestTransport.InMemory, ShopDatabase = _shop, RunId = runId, Relay = true,
            ShopContext = o => o.UseNpgsql(dataSource),
            ConfigureRelay = r => r.PollingInterval = TimeSpan.FromSeconds(30),
            ConfigureBuilder = b => b.AddPostgresNotifications(o => o.ReconnectDelay = TimeSpan.FromSeconds(2)),
            ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks(),
        };
        relayOptions.Consumers.Add((typeof(OrdersConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "#")));
        await using var relay = await ServiceHost.StartAsync(relayOptions);

        // The LISTEN connection is made by the context's data source (which may add credentials a connection string lacks).
        var listener = await WaitForListenerAsync();
        listener.Should().NotBeNull("the relay listens");
        madeByDataSource.Keys.Should().Contain(listener!.Value, "the listening connection comes from the context's data source");
        (await HealthProbe.WaitForAsync(relay, "domainevents-notifications", HealthStatus.Healthy, TimeSpan.FromSeconds(10))).Description.Should().Be("LISTEN domainevents_outbox (ShopDbContext): listening");

        await using (var admin = new Npgsql.NpgsqlConnection(_shop.ConnectionString))
        {
            await admin.OpenAsync();
            await using var kill = new Npgsql.NpgsqlCommand($"SELECT pg_terminate_backend({listener})", admin);
            await kill.ExecuteNonQueryAsync();
        }

        var lost = await HealthProbe.WaitForAsync(relay, "domainevents-notifications", HealthStatus.Degraded, TimeSpan.FromSeconds(10));
        lost.Description.Should().StartWith("LISTEN domainevents_outbox (ShopDbContext): reconnecting; relays find rows from other processes at their next poll meanwhile");

        var again = await WaitForListenerAsync(except: listener);
        again.Should().NotBeNull("the listener connects again");
        madeByDataSource.Keys.Should().Contain(again!.Value, "the new connection comes from the data source too");
        await writer.SaveAsync(Order.Place(1));
        await relay.Deliveries.WaitUntilAsync(d => d.All.Count == 1, TimeSpan.FromSeconds(5), "a NOTIFY after the reconnect wakes the relay, long before its 30 s poll");
        (await HealthProbe.WaitForAsync(relay, "domainevents-notifications", HealthStatus.Healthy, TimeSpan.FromSeconds(10))).Description.Should().EndWith(": listening");
    }

    [Test]
    public async Task A_commit_whose_own_process_runs_a_relay_of_its_database_notifies_no_other_process()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var options = ServiceWithRelay(runId);
        options.Consumers.Add((typeof(OrdersConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "#")));
        await using var writer = await ServiceHost.StartAsync(options);
        await using var other = await ServiceHost.StartAsync(ServiceWithRelay(runId));
        var (writerRelay, otherRelay) = await BothListeningAsync(writer, other);
        var claimsBefore = otherRelay.ClaimsOverTable;

        await using var listener = new Npgsql.NpgsqlConnection(_shop.ConnectionString);
        await listener.OpenAsync();
        var notifications = 0;
        listener.Notification += (_, _) => Interlocked.Increment(ref notifications);
        await using (var listen = new Npgsql.NpgsqlCommand("LISTEN domainevents_outbox", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }

        for (var i = 1; i <= 10; i++)
        {
            await writer.SaveAsync(Order.Place(i));
        }

        await writer.Deliveries.WaitUntilAsync(d => d.All.Count == 10, TimeSpan.FromSeconds(10), "the writer's own relay sends its commits' rows");
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        await using (var ping = new Npgsql.NpgsqlCommand("SELECT 1", listener))
        {
            // Reads whatever notification arrived meanwhile.
            await ping.ExecuteScalarAsync();
        }

        notifications.Should().Be(0, "the relay of the writer's process takes the rows; no other process needs waking");
        otherRelay.ClaimsOverTable.Should().Be(claimsBefore, "no notification made the other relay claim over the table");

        // With its own relay stopped, the writer's commits wake the other process again, whose relay claims the row.
        await writerRelay.StoppingAsync(CancellationToken.None);
        await writerRelay.StopAsync(CancellationToken.None);
        await writer.SaveAsync(Order.Place(11));
        for (var waited = 0; otherRelay.ClaimsOverTable == claimsBefore; waited += 50)
        {
            waited.Should().BeLessThan(5_000, "a NOTIFY wakes the other relay, long before its 30 s poll");
            await Task.Delay(50);
        }

        await using (var ping = new Npgsql.NpgsqlCommand("SELECT 1", listener))
        {
            await ping.ExecuteScalarAsync();
        }

        notifications.Should().Be(1);
    }

    [Test]
    public async Task A_row_committed_behind_a_key_that_a_relay_of_another_process_is_sending_goes_when_that_send_ends()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holderOptions = ServiceWithRelay(runId);
        holderOptions.ConfigureBus = cfg => cfg.ConfigureSend(s => s.UseExecuteAsync(async _ =>
        {
            sending.TrySetResult();
            await gate.Task;
        }));
        holderOptions.Consumers.Add((typeof(OrdersConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "#")));
        await using var holder = await ServiceHost.StartAsync(holderOptions);
        await using var writer = await ServiceHost.StartAsync(ServiceWithRelay(runId));
        var (holderRelay, writerRelay) = await BothListeningAsync(holder, writer);

        // The holder's relay takes the key's first row, committed in its process, and is sending it.
        var busyBefore = holderRelay.ClaimsThatFoundBusyKeys;
        var order = Order.Place(1);
        await holder.SaveAsync(order);
        await sending.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The writer commits the key's next row. Its own relay reads the database, so the commit notifies no one, and that
        // relay cannot take the row while the key is being sent.
        await using (var scope = writer.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
            var again = await db.Set<Order>().SingleAsync(o => o.Id == order.Id);
            again.PlaceAgain(2);
            await db.SaveChangesAsync();
        }

        for (var waited = 0; writerRelay.WakeUpsSent == 0; waited += 50)
        {
            waited.Should().BeLessThan(5_000, "the writer's relay finds the key busy and wakes the relays of other processes");
            await Task.Delay(50);
        }

        for (var waited = 0; holderRelay.ClaimsThatFoundBusyKeys == busyBefore; waited += 50)
        {
            waited.Should().BeLessThan(5_000, "the woken holder claims over the table while it sends, and finds its own key busy");
            await Task.Delay(50);
        }

        gate.SetResult();

        await holder.Deliveries.WaitUntilAsync(d => d.All.Count == 2, TimeSpan.FromSeconds(10),
            "the holder's relay, woken while it was sending, claims again when its send is recorded, long before its 30 s poll");
        holder.Deliveries.All.Select(d => ((OrderPlaced)d.Message).Sequence).Should().Equal([1, 2], "in the key's order");
        writerRelay.WakeUpsSent.Should().Be(1, "once for the lease that left the row, not at every claim after it");
    }

    /// <summary>A service on the test database with its relay (30 s polls) and notifications.</summary>
    private ServiceHostOptions ServiceWithRelay(string runId) => new()
    {
        Transport = TestTransport.InMemory, ShopDatabase = _shop, RunId = runId, Relay = true,
        ConfigureRelay = r => r.PollingInterval = TimeSpan.FromSeconds(30),
        ConfigureBuilder = b => b.AddPostgresNotifications(),
    };

    /// <summary>
    /// The two services' relays, once both listen and both relays have run their first claims (the one at start, and the one
    /// each listener asks for once it listens) on connections they keep: from then on nothing but a notification or a 30 s
    /// poll makes one claim.
    /// </summary>
    private async Task<(OutboxRelay<ShopDbContext> First, OutboxRelay<ShopDbContext> Second)> BothListeningAsync(ServiceHost first, ServiceHost second)
    {
        var firstRelay = first.Services.GetServices<IHostedService>().OfType<OutboxRelay<ShopDbContext>>().Single();
        var secondRelay = second.Services.GetServices<IHostedService>().OfType<OutboxRelay<ShopDbContext>>().Single();
        for (var waited = 0; await ListenersAsync() < 2 || firstRelay.ConnectionsKept < 1 || secondRelay.ConnectionsKept < 1; waited += 50)
        {
            waited.Should().BeLessThan(10_000, "both services listen and both relays claim when they start");
            await Task.Delay(50);
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        return (firstRelay, secondRelay);
    }

    /// <summary>How many connections LISTEN on the test database now.</summary>
    private async Task<long> ListenersAsync()
    {
        await using var admin = new Npgsql.NpgsqlConnection(_shop.ConnectionString);
        await admin.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'", admin);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>The backend id of the connection LISTENing on the test database, within 10 s.</summary>
    private async Task<int?> WaitForListenerAsync(int? except = null)
    {
        await using var admin = new Npgsql.NpgsqlConnection(_shop.ConnectionString);
        await admin.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            await using var find = new Npgsql.NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> @except", admin);
            find.Parameters.AddWithValue("except", except ?? 0);
            if (await find.ExecuteScalarAsync() is int pid)
            {
                return pid;
            }

            await Task.Delay(100);
        }

        return null;
    }
}
