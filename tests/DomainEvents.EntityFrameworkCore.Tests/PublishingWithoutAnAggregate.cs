using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Errors;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// An application service with no aggregate publishes through the context's outbox: the row commits with the next save
/// of that context, or not at all, and reaches the relay of this process like an aggregate's.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class PublishingWithoutAnAggregate(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider);

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task An_event_published_by_name_is_stored_by_the_next_save_with_its_routing_and_data()
    {
        await using var scope = _host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<IOutboxPublisher<OrderingDbContext>>();

        var messageId = outbox.Publish("user", "user.updated", new { UserId = 42, Name = "Ada" }, "user/42", version: 2);
        (await _host.OutboxAsync()).Should().BeEmpty("nothing is written before the save");
        await db.SaveChangesAsync();

        var row = (await _host.OutboxAsync()).Single();
        row.MessageId.Should().Be(messageId);
        (row.Exchange, row.MessageType, row.RoutingKey, row.Version, row.PartitionKey).Should().Be(("user", "user.updated", "user.updated", 2, "user/42"));
        row.Payload.Should().Be("""{"userId":42,"name":"Ada"}""", "the payload is serialized with the configured JSON options");
        row.Status.Should().Be(OutboxMessageStatus.Pending);
        JsonDocument.Parse(row.Headers).RootElement.GetProperty("correlation-id").GetGuid().Should().Be(messageId);
    }

    [Test]
    public async Task A_typed_event_takes_type_and_version_from_the_registry_and_exchange_and_key_from_the_call()
    {
        await _host.InScopeAsync(async (db, services) =>
        {
            var outbox = services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>();
            outbox.Publish(new OrderCancelled(Guid.Empty, "fraud"), partitionKey: "order/1");
            outbox.Publish(new OrderShipped(Guid.Empty), partitionKey: "order/1", exchange: "shipping");
            await db.SaveChangesAsync();
        });

        var rows = await _host.OutboxAsync();
        rows.Select(r => (r.Exchange, r.MessageType, r.Version, r.RoutingKey, r.PartitionKey)).Should().Equal(
            ("sales", "sales.order-cancelled", 3, "sales.order.cancelled", "order/1"),
            ("shipping", "order.shipped", 1, "order.shipped", "order/1"));
    }

    [Test]
    public async Task An_event_with_no_exchange_or_no_partition_key_is_refused_and_nothing_is_stored()
    {
        await _host.InScopeAsync(async (db, services) =>
        {
            var outbox = services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>();

            var noExchange = () => outbox.Publish(new OrderShipped(Guid.Empty), partitionKey: "order/1");
            noExchange.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("exchange");
            var noKey = () => outbox.Publish(new OrderShipped(Guid.Empty), exchange: "shipping");
            noKey.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("partition key");
            var reserved = () => outbox.Publish("amq.direct", "user.updated", new { }, "user/1");
            var error = reserved.Should().Throw<InvalidRoutingException>().Which;
            (error.Field, error.MessageType, error.EventType).Should().Be(("exchange", "user.updated", null));
            var version = () => outbox.Publish("user", "user.updated", new { }, "user/1", version: 0);
            version.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("version");
            var emptyKey = () => outbox.Publish("user", "user.updated", new { }, " ");
            emptyKey.Should().Throw<InvalidRoutingException>().Which.Field.Should().Be("partition key");

            await db.SaveChangesAsync();
        });

        (await _host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task A_published_event_and_the_changes_beside_it_are_rolled_back_together()
    {
        await _host.InScopeAsync(async (db, services) =>
        {
            var outbox = services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(Order.Place("c1", 1m));
            outbox.Publish("user", "user.updated", new { UserId = 1 }, "user/1");
            await db.SaveChangesAsync();
            await transaction.RollbackAsync();
        });

        (await _host.OutboxAsync()).Should().BeEmpty();
        (await _host.OrderCountAsync()).Should().Be(0);
    }

    [Test]
    public async Task A_published_event_is_handed_to_the_relay_of_this_process_when_it_commits()
    {
        using var relay = await StartedRelayAsync();

        await _host.InScopeAsync(async (db, services) =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>().Publish("user", "user.updated", new { UserId = 1 }, "user/1");
            await db.SaveChangesAsync();
            relay.CommittedWaiting.Should().Be(0, "the transaction has not committed yet");
            await transaction.CommitAsync();
        });

        relay.CommittedWaiting.Should().Be(1);
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Processed.Should().Be(1);
        (await _host.OutboxAsync()).Single().Status.Should().Be(OutboxMessageStatus.Processed);
    }

    [Test]
    public async Task A_row_left_behind_by_a_cleared_change_tracker_is_neither_stored_nor_handed_over()
    {
        using var relay = await StartedRelayAsync();

        await _host.InScopeAsync(async (db, services) =>
        {
            var outbox = services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>();
            outbox.Publish("user", "user.updated", new { Attempt = 1 }, "user/1");
            db.ChangeTracker.Clear();
            outbox.Publish("user", "user.updated", new { Attempt = 2 }, "user/1");
            await db.SaveChangesAsync();
        });

        (await _host.OutboxAsync()).Select(r => r.Payload).Should().Equal("""{"attempt":2}""");
        relay.CommittedWaiting.Should().Be(1);
    }

    /// <summary>A relay of this process that polls hourly: what it sends was handed to it by a commit.</summary>
    private async Task<OutboxRelay<OrderingDbContext>> StartedRelayAsync()
    {
        var relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(),
            _host.Services.GetRequiredService<OutboxSignal>(),
            new SendingRowsCommittedInThisProcess.RecordingTransport(),
            new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) },
            TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0);
        return relay;
    }

    [Test]
    public async Task Events_stamped_in_one_microsecond_or_with_the_clock_set_back_still_rise_in_time()
    {
        var clock = new SettableClock(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
        await using var host = await TestHost.StartAsync(provider, services: s => s.AddSingleton<TimeProvider>(clock));
        await host.InScopeAsync(async (db, services) =>
        {
            var outbox = services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>();
            outbox.Publish("user", "user.updated", new { Step = 1 }, "user/1");
            outbox.Publish("user", "user.updated", new { Step = 2 }, "user/1");
            clock.Now = clock.Now.AddSeconds(-5);
            outbox.Publish("user", "user.updated", new { Step = 3 }, "user/1");
            await db.SaveChangesAsync();
        });

        var times = (await host.OutboxAsync()).Select(r => r.OccurredAt).ToList();
        times.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems("a consumer that orders by time (a replica) must see them in the order they were made");
        times[0].Should().Be(new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc));
    }

    private sealed class SettableClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
