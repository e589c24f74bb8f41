using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>IOutboxDrain, which users' integration tests await instead of a delay: what it waits for, and how it fails.</summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class DrainingTheOutbox(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider);

    [TearDown]
    public Task StopAsync() => _host.DisposeAsync().AsTask();

    private IOutboxDrain Drain => _host.Services.GetRequiredService<IOutboxDrain>();

    [Test]
    public async Task An_empty_outbox_is_drained()
    {
        await Drain.DrainAsync(TimeSpan.FromSeconds(1));
        (await _host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task The_drain_returns_once_a_relay_has_sent_every_row_committed_before_it()
    {
        await SaveOrdersAsync(3);
        var broker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new SendingRowsCommittedInThisProcess.RecordingTransport { Hold = broker.Task };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, new OutboxRelayOptions(), TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

        var drained = Drain.DrainAsync(TimeSpan.FromSeconds(30));
        var sending = relay.RunOnceAsync(CancellationToken.None);
        var held = DateTime.UtcNow.AddSeconds(10);
        while (transport.Held.Count < 3 && DateTime.UtcNow < held)
        {
            await Task.Delay(10);
        }

        transport.Held.Should().HaveCount(3, "the relay is sending the three rows, and the broker holds their confirmations");
        await Task.Delay(300);
        drained.IsCompleted.Should().BeFalse("no row is confirmed while the broker holds them");

        broker.SetResult();
        await sending;
        await drained;

        transport.Sent.Should().HaveCount(3);
        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
    }

    [Test]
    public async Task Without_a_relay_the_drain_fails_after_its_timeout_listing_each_waiting_row()
    {
        var orders = await SaveOrdersAsync(2);

        var drain = () => Drain.DrainAsync(TimeSpan.FromSeconds(1));

        var thrown = (await drain.Should().ThrowAsync<OutboxNotDrainedException>()).Which;
        thrown.Message.Should().Contain("The outbox of OrderingDbContext did not drain within 1 s; 2 row(s) committed before the wait are still waiting");
        thrown.Waiting.Should().HaveCount(2);
        foreach (var order in orders)
        {
            thrown.Waiting.Should().ContainSingle(w => w.Contains($"(key Order/{order.Id}): pending, 0 attempt(s)", StringComparison.Ordinal));
        }
    }

    [Test]
    public async Task Waiting_for_consumers_without_a_consumption_watcher_is_refused_with_what_to_register()
    {
        var drain = () => Drain.DrainAsync(TimeSpan.FromSeconds(1), OutboxDrainUntil.Consumed);

        (await drain.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("AddIntegrationEventDrain()");
    }

    private async Task<List<Order>> SaveOrdersAsync(int count)
    {
        var orders = Enumerable.Range(0, count).Select(i => Order.Place($"c{i}", 10m + i)).ToList();
        await _host.InScopeAsync(async db =>
        {
            db.Orders.AddRange(orders);
            await db.SaveChangesAsync();
        });
        return orders;
    }
}
