using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>What an operator's dashboard gets from the meter DomainEvents.Relay: backlog gauges per exchange, and bounded tags.</summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
[NonParallelizable]
public sealed class MeasuringTheOutbox(DatabaseProvider provider)
{
    private TestHost _host = null!;
    private MeterListener _listener = null!;
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _measured = new();

    [SetUp]
    public async Task StartAsync()
    {
        _measured.Clear();
        _host = await TestHost.StartAsync(provider);
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "DomainEvents.Relay")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    [TearDown]
    public async Task StopAsync()
    {
        _listener.Dispose();
        await _host.DisposeAsync();
    }

    [Test]
    public async Task The_gauges_report_pending_dead_and_the_oldest_pending_age_per_exchange_and_zero_once_an_exchange_is_empty()
    {
        await _host.AddOutboxRowAsync("ordering", OutboxMessageStatus.Pending, DateTime.UtcNow.AddMinutes(-10));
        await _host.AddOutboxRowAsync("ordering", OutboxMessageStatus.Pending, DateTime.UtcNow);
        await _host.AddOutboxRowAsync("billing", OutboxMessageStatus.Dead, DateTime.UtcNow);
        var options = new OutboxRelayOptions { BacklogInterval = TimeSpan.FromMilliseconds(100) };
        using var monitor = new OutboxBacklogMonitor<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), options, TimeProvider.System, NullLogger<OutboxBacklogMonitor<OrderingDbContext>>.Instance);
        await monitor.StartAsync(CancellationToken.None);
        try
        {
            var gauges = await GaugesAsync(g => g.ContainsKey(("domainevents.outbox.pending", "ordering")));
            gauges[("domainevents.outbox.pending", "ordering")].Should().Be(2);
            gauges[("domainevents.outbox.pending", "billing")].Should().Be(0);
            gauges[("domainevents.outbox.dead", "billing")].Should().Be(1);
            gauges[("domainevents.outbox.oldest_pending_age", "ordering")].Should().BeInRange(600, 660);

            await _host.InScopeAsync(db => db.Set<OutboxMessage>().Where(m => m.Exchange == "ordering").ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxMessageStatus.Processed)));
            gauges = await GaugesAsync(g => g.GetValueOrDefault(("domainevents.outbox.pending", "ordering"), -1) == 0);
            gauges[("domainevents.outbox.pending", "ordering")].Should().Be(0, "an exchange whose rows are gone reports zero instead of vanishing");
            gauges[("domainevents.outbox.oldest_pending_age", "ordering")].Should().Be(0);
        }
        finally
        {
            await monitor.StopAsync(CancellationToken.None);
        }

        _measured.Clear();
        _listener.RecordObservableInstruments();
        _measured.Should().NotContain(m => m.Instrument.StartsWith("domainevents.outbox.", StringComparison.Ordinal), "a stopped monitor's gauges stop reporting");
    }

    [Test]
    public async Task Relay_measurements_carry_the_outbox_and_never_the_relay_instance()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("c1", 10m));
            await db.SaveChangesAsync();
        });
        var transport = new SendingRowsCommittedInThisProcess.RecordingTransport();
        using var relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, new OutboxRelayOptions { InstanceName = "relay-7f3a" }, TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);

        Sum("domainevents.relay.processed").Should().Be(1);
        _measured.Should().Contain(m => m.Instrument == "domainevents.relay.claim.duration");
        _measured.Should().Contain(m => m.Instrument == "domainevents.relay.batch.size" && m.Value == 1);
        _measured.Single(m => m.Instrument == "domainevents.relay.publish.delay").Value.Should().BeInRange(0, 60);
        _measured.Where(m => m.Instrument.StartsWith("domainevents.relay.", StringComparison.Ordinal))
            .Should().OnlyContain(m => Equals(m.Tags["domainevents.outbox"], nameof(OrderingDbContext)))
            .And.OnlyContain(m => !m.Tags.Values.Any(v => v != null && v.ToString()!.Contains("relay-7f3a", StringComparison.Ordinal)), "a tag per relay instance would make a new series for every process");
    }

    [Test]
    public async Task A_send_the_destination_did_not_take_is_counted_as_busy_and_not_as_failed()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("c1", 10m));
            await db.SaveChangesAsync();
        });
        using var relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), new BusyTransport(), new OutboxRelayOptions(), TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

        await relay.RunOnceAsync(CancellationToken.None);

        var row = (await _host.OutboxAsync()).Single();
        row.Attempts.Should().Be(0);
        var busy = _measured.Where(m => m.Instrument == "domainevents.relay.busy").ToList();
        busy.Sum(m => m.Value).Should().Be(1);
        busy.Single().Tags.Should().Contain("messaging.destination.name", row.Exchange).And.Contain("domainevents.message.type", row.MessageType);
        Sum("domainevents.relay.failed").Should().Be(0, "back-pressure is not the message's fault");
    }

    private sealed class BusyTransport : IOutboxTransport
    {
        public Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken) =>
            Task.FromException(new DestinationBusyException("nack: the queue is at its length limit"));
    }

    /// <summary>The gauges of this outbox by (instrument, exchange), once <paramref name="ready"/> holds for them (within 10 s).</summary>
    private async Task<Dictionary<(string Instrument, string Exchange), double>> GaugesAsync(Func<Dictionary<(string, string), double>, bool> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            _measured.Clear();
            _listener.RecordObservableInstruments();
            var gauges = _measured
                .Where(m => m.Instrument.StartsWith("domainevents.outbox.", StringComparison.Ordinal) && Equals(m.Tags["domainevents.outbox"], nameof(OrderingDbContext)))
                .ToDictionary(m => (m.Instrument, (string)m.Tags["messaging.destination.name"]!), m => m.Value);
            if (ready(gauges) || DateTime.UtcNow > deadline)
            {
                return gauges;
            }

            await Task.Delay(20);
        }
    }

    private double Sum(string instrument) => _measured.Where(m => m.Instrument == instrument).Sum(m => m.Value);

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        _measured.Enqueue((instrument.Name, value, copy));
    }
}
