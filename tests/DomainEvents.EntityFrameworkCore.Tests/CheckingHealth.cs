using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>What an operator's probe sees: the outbox's lag and dead rows, and whether the relay gets messages out.</summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class CheckingHealth(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() =>
        _host = await TestHost.StartAsync(provider, services: s => s.AddLogging().AddHealthChecks().AddDomainEventsHealthChecks(o => o.BacklogReuse = TimeSpan.Zero));

    [TearDown]
    public Task StopAsync() => _host.DisposeAsync().AsTask();

    private Task<HealthReport> CheckAsync() => _host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

    [Test]
    public async Task An_empty_outbox_and_no_relay_in_the_process_are_healthy_and_say_so()
    {
        var report = await CheckAsync();

        report.Entries.Keys.Should().BeEquivalentTo(["domainevents-outbox", "domainevents-relay", "domainevents-notifications", "domainevents-inbox", "domainevents-inbox-cleanup"]);
        report.Status.Should().Be(HealthStatus.Healthy);
        report.Entries["domainevents-outbox"].Description.Should().Be("0 pending (oldest 0 s), 0 being sent, 0 dead.");
        report.Entries["domainevents-relay"].Description.Should().Be("No relay runs in this process.");
        report.Entries["domainevents-inbox"].Description.Should().Be("No inbox consumer that keeps order in this process.");
    }

    [Test]
    public async Task One_reading_of_the_outbox_serves_the_probes_within_BacklogReuse()
    {
        await using var host = await TestHost.StartAsync(provider, services: s => s.AddLogging().AddHealthChecks().AddDomainEventsHealthChecks(o => o.BacklogReuse = TimeSpan.FromMinutes(5)));
        var checks = host.Services.GetRequiredService<HealthCheckService>();
        (await checks.CheckHealthAsync()).Entries["domainevents-outbox"].Data["pending"].Should().Be(0);
        await host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("c1", 10m));
            await db.SaveChangesAsync();
        });

        (await checks.CheckHealthAsync()).Entries["domainevents-outbox"].Data["pending"].Should().Be(0, "the first reading is reused for five minutes: a probe every few seconds costs no query");
    }

    [Test]
    public async Task A_process_without_an_outbox_is_healthy_and_says_so()
    {
        var services = new ServiceCollection();
        services.AddLogging().AddHealthChecks().AddDomainEventsHealthChecks();
        await using var provider1 = services.BuildServiceProvider();

        var entry = (await provider1.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries["domainevents-outbox"];

        entry.Status.Should().Be(HealthStatus.Healthy);
        entry.Description.Should().Be("No outbox in this process.");
    }

    [TestCase(30, HealthStatus.Healthy)]
    [TestCase(120, HealthStatus.Degraded)]
    [TestCase(600, HealthStatus.Unhealthy)]
    public async Task The_outbox_check_follows_the_age_of_the_oldest_pending_row(int ageSeconds, HealthStatus expected)
    {
        await _host.AddOutboxRowAsync("ordering", OutboxMessageStatus.Pending, DateTime.UtcNow.AddSeconds(-ageSeconds));
        await _host.AddOutboxRowAsync("ordering", OutboxMessageStatus.Pending, DateTime.UtcNow);

        var entry = (await CheckAsync()).Entries["domainevents-outbox"];

        entry.Status.Should().Be(expected);
        entry.Data["pending"].Should().Be(2);
        ((double)entry.Data["oldest_pending_age_seconds"]).Should().BeInRange(ageSeconds, ageSeconds + 30);
    }

    [Test]
    public async Task A_dead_row_makes_the_outbox_degraded_naming_its_exchange()
    {
        await _host.AddOutboxRowAsync("billing", OutboxMessageStatus.Dead, DateTime.UtcNow);

        var entry = (await CheckAsync()).Entries["domainevents-outbox"];

        entry.Status.Should().Be(HealthStatus.Degraded);
        entry.Description.Should().Contain("Dead rows wait for an operator (billing: 1)");
        entry.Data["dead"].Should().Be(1);
    }

    [Test]
    public async Task A_relay_whose_transport_is_unavailable_is_unhealthy_until_it_sends_again()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("c1", 10m));
            await db.SaveChangesAsync();
        });
        var transport = new SwitchableTransport { Unavailable = true };
        using var relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, new OutboxRelayOptions { InstanceName = "relay-a" }, TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance, _host.Services.GetRequiredService<DomainEventsHealth>());

        (await relay.RunOnceAsync(CancellationToken.None)).TransportUnavailable.Should().NotBeNull();
        var down = (await CheckAsync()).Entries["domainevents-relay"];
        down.Status.Should().Be(HealthStatus.Unhealthy);
        down.Description.Should().StartWith("relay relay-a (OrderingDbContext): the transport is unavailable; rows wait, no attempt is counted: broker down (since ");
        down.Exception.Should().BeOfType<TransportUnavailableException>();

        transport.Unavailable = false;
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);
        var up = (await CheckAsync()).Entries["domainevents-relay"];
        up.Status.Should().Be(HealthStatus.Healthy);
        up.Description.Should().Be("relay relay-a (OrderingDbContext): running");
    }

    [Test]
    public async Task The_relay_stays_unhealthy_while_it_pauses_for_an_outage_even_when_an_earlier_batch_gets_through()
    {
        // Two batches in flight: the second runs into the outage while the first still waits for its confirmation, which
        // then comes. The relay finishes both and pauses; the probe must not call it healthy meanwhile.
        var held = Order.Place("held", 1m);
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(held);
            await db.SaveChangesAsync();
        });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new HalfDownTransport(held.Id.ToString(), gate.Task);
        var signal = new OutboxSignal();
        using var relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(), signal, transport, new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) }, TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance, _host.Services.GetRequiredService<DomainEventsHealth>());
        await relay.StartAsync(CancellationToken.None);
        try
        {
            await WaitForAsync(() => transport.Waiting);
            await _host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("down", 1m));
                await db.SaveChangesAsync();
            });
            signal.NotifyFromNotification("another process");
            await WaitForAsync(() => CheckAsync().GetAwaiter().GetResult().Entries["domainevents-relay"].Status == HealthStatus.Unhealthy);

            gate.SetResult();
            await WaitForAsync(() => transport.Confirmed);
            var until = DateTime.UtcNow.AddMilliseconds(500);
            while (DateTime.UtcNow < until)
            {
                (await CheckAsync()).Entries["domainevents-relay"].Status.Should().Be(HealthStatus.Unhealthy, "the transport is still down for every batch claimed since");
                await Task.Delay(10);
            }
        }
        finally
        {
            gate.TrySetResult();
            await relay.StopAsync(CancellationToken.None);
        }
    }

    [Test]
    public async Task The_relay_is_healthy_again_once_a_send_that_outran_its_timeout_is_confirmed_and_nothing_waits()
    {
        // The only row's send outruns SendTimeout and the transport does not give up: the relay counts an outage and keeps
        // the row's lease. The broker confirms it later and the row is marked. Nothing waits now, so the probe says so.
        var transport = new SlowTransport(TimeSpan.FromMilliseconds(1500));
        using var relay = await RelayInAnOutageOfOneSlowSendAsync(transport);
        try
        {
            await WaitForAsync(() => _host.OutboxAsync().GetAwaiter().GetResult().Single().Status == OutboxMessageStatus.Processed);
            await WaitForAsync(() => CheckAsync().GetAwaiter().GetResult().Entries["domainevents-relay"].Status == HealthStatus.Healthy);

            (await CheckAsync()).Entries["domainevents-relay"].Description.Should().EndWith("running; nothing waits to be sent");
            transport.Sends.Should().Be(1, "the late confirmation was recorded under the row's lease");
        }
        finally
        {
            await relay.StopAsync(CancellationToken.None);
        }
    }

    [Test]
    public async Task The_relay_is_not_called_healthy_while_a_send_that_outran_its_timeout_and_then_failed_keeps_its_lease()
    {
        // The only row's send outruns SendTimeout, the transport does not give up, and then the send fails. The row keeps
        // the relay's lease until it runs out (4 s after the claim) and is not sent meanwhile: something still waits.
        var until = DateTime.UtcNow.AddSeconds(3.5);
        var transport = new SlowTransport(TimeSpan.FromMilliseconds(1500), fails: true);
        using var relay = await RelayInAnOutageOfOneSlowSendAsync(transport);
        try
        {
            while (DateTime.UtcNow < until)
            {
                (await CheckAsync()).Entries["domainevents-relay"].Status.Should().NotBe(HealthStatus.Healthy, "the row's send failed late and it waits for its lease to run out");
                await Task.Delay(20);
            }

            transport.Sends.Should().Be(1, "the row is not sent again while the lease lasts");
        }
        finally
        {
            await relay.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// One row in the outbox, and a started relay (polling every 100 ms, sends timed out after 500 ms, leases of 4 s) whose
    /// send of it outran its timeout: returned once the probe reports the outage.
    /// </summary>
    private async Task<OutboxRelay<OrderingDbContext>> RelayInAnOutageOfOneSlowSendAsync(SlowTransport transport)
    {
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("slow", 1m));
            await db.SaveChangesAsync();
        });
        var relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport,
            new OutboxRelayOptions { PollingInterval = TimeSpan.FromMilliseconds(100), SendTimeout = TimeSpan.FromMilliseconds(500), LeaseDuration = TimeSpan.FromSeconds(4) },
            TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance, _host.Services.GetRequiredService<DomainEventsHealth>());
        await relay.StartAsync(CancellationToken.None);
        await WaitForAsync(() => CheckAsync().GetAwaiter().GetResult().Entries["domainevents-relay"].Description!.Contains("the transport is unavailable", StringComparison.Ordinal));
        return relay;
    }

    private static Task WaitForAsync(Func<bool> condition) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(10), "The relay did not get there within 10 s.");

    /// <summary>Confirms the held key's message once the gate opens; every other message meets a broker that is down.</summary>
    private sealed class HalfDownTransport(string heldKey, Task gate) : IOutboxTransport
    {
        public bool Waiting { get; private set; }

        public bool Confirmed { get; private set; }

        public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            if (!envelope.PartitionKey.Contains(heldKey, StringComparison.OrdinalIgnoreCase))
            {
                throw new TransportUnavailableException("broker down");
            }

            Waiting = true;
            await gate;
            Confirmed = true;
        }
    }

    /// <summary>Takes its time over every send and does not give up when asked to; then confirms it, or fails it.</summary>
    private sealed class SlowTransport(TimeSpan time, bool fails = false) : IOutboxTransport
    {
        private int _sends;

        public int Sends => Volatile.Read(ref _sends);

        public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _sends);
            await Task.Delay(time, CancellationToken.None);
            if (fails)
            {
                throw new InvalidOperationException("the broker gave up on it");
            }
        }
    }

    private sealed class SwitchableTransport : IOutboxTransport
    {
        public bool Unavailable { get; set; }

        public Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken) =>
            Unavailable ? Task.FromException(new TransportUnavailableException("broker down")) : Task.CompletedTask;
    }
}
