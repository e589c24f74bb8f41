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

        report.Entries.Keys.Should().BeEquivalentTo(["domainevents-outbox", "domainevents-relay", "domainevents-notifications", "domainevents-inbox-cleanup"]);
        report.Status.Should().Be(HealthStatus.Healthy);
        report.Entries["domainevents-outbox"].Description.Should().Be("0 pending (oldest 0 s), 0 being sent, 0 dead.");
        report.Entries["domainevents-relay"].Description.Should().Be("No relay runs in this process.");
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

    private sealed class SwitchableTransport : IOutboxTransport
    {
        public bool Unavailable { get; set; }

        public Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken) =>
            Unavailable ? Task.FromException(new TransportUnavailableException("broker down")) : Task.CompletedTask;
    }
}
