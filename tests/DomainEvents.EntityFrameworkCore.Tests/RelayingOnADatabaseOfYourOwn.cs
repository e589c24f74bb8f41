using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using DomainEvents.ThirdPartyDatabase;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A database provider written outside this repository's internals (tests/DomainEvents.ThirdPartyDatabase, which no
/// InternalsVisibleTo names) drives the relay through IOutboxRelayDatabase: per-key order, retries and the dead state
/// hold with its statements.
/// </summary>
public sealed class RelayingOnADatabaseOfYourOwn
{
    [Test]
    public async Task The_relay_runs_on_a_registered_provider_in_order_per_key_with_retries_and_a_dead_row()
    {
        var database = new OneHeadPerKeySqlite();
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton<IOutboxRelayDatabase>(database));
        var transport = new FailingTransport();
        using var relay = Relay(host, transport, new OutboxRelayOptions { MaxAttempts = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(1), RetryMaxDelay = TimeSpan.FromMilliseconds(1) });
        var orders = Enumerable.Range(0, 3).Select(i => Order.Place($"c{i}", i)).ToArray();
        foreach (var order in orders)
        {
            order.RaiseEvent(new OrderPlaced(order.Id, 1));
            order.RaiseEvent(new OrderPlaced(order.Id, 2));
        }

        await host.InScopeAsync(async db =>
        {
            db.Orders.AddRange(orders);
            await db.SaveChangesAsync();
        });
        var poisoned = (await host.OutboxAsync()).First(r => r.PartitionKey == $"Order/{orders[0].Id}");
        transport.Fail.TryAdd(poisoned.MessageId, true);

        for (var round = 0; round < 20 && (await host.OutboxAsync()).Any(r => r.Status == OutboxMessageStatus.Pending); round++)
        {
            await relay.RunOnceAsync(CancellationToken.None);
            await Task.Delay(5);
        }

        var rows = await host.OutboxAsync();
        rows.Single(r => r.Id == poisoned.Id).Should().Match<OutboxMessage>(r => r.Status == OutboxMessageStatus.Dead && r.Attempts == 2);
        rows.Where(r => r.Id != poisoned.Id).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
        foreach (var order in orders)
        {
            transport.Sent.Where(e => e.PartitionKey == $"Order/{order.Id}").Select(e => e.Id).Should().BeInAscendingOrder();
        }

        transport.Sent.Select(e => e.Id).Should().OnlyHaveUniqueItems().And.HaveCount(8, "9 rows, the dead one never confirmed");
        database.Calls.Keys.Should().Contain(["claim", "mark-processed", "mark-failed"], "the relay ran the provider's statements, not the built-in ones");
    }

    [Test]
    public async Task The_provider_is_given_what_it_needs_to_keep_a_busy_key_and_a_row_not_yet_due_back()
    {
        var database = new OneHeadPerKeySqlite();
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton<IOutboxRelayDatabase>(database));
        var transport = new FailingTransport();
        using var relay = Relay(host, transport, new OutboxRelayOptions());
        var busy = Order.Place("busy", 1);
        busy.RaiseEvent(new OrderPlaced(busy.Id, 2));
        var waiting = Order.Place("waiting", 2);
        var free = Order.Place("free", 3);
        await host.InScopeAsync(async db =>
        {
            db.Orders.AddRange(busy, waiting, free);
            await db.SaveChangesAsync();
        });

        // Another relay holds a later row of one key; the other key's head failed once and waits an hour.
        await host.InScopeAsync(async db =>
        {
            var rows = await db.Set<OutboxMessage>().OrderBy(r => r.Id).ToListAsync();
            var leased = rows.Last(r => r.PartitionKey == $"Order/{busy.Id}");
            leased.LeaseOwner = "another relay#1";
            leased.LeaseExpiresAt = DateTime.UtcNow.AddHours(1);
            var backingOff = rows.Single(r => r.PartitionKey == $"Order/{waiting.Id}");
            backingOff.Attempts = 1;
            backingOff.NextAttemptAt = DateTime.UtcNow.AddHours(1);
            await db.SaveChangesAsync();
        });

        await relay.RunOnceAsync(CancellationToken.None);

        transport.Sent.Select(e => e.PartitionKey).Should().Equal([$"Order/{free.Id}"], "only the free key's head was due and not busy");
        database.Calls.Should().ContainKey("claim");
        relay.ConnectionsKept.Should().Be(0, "a provider's statements that do not say otherwise get a connection each");
    }

    [Test]
    public async Task A_provider_that_returns_a_claim_in_another_order_still_has_each_key_sent_in_id_order()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite, services: s => s.AddSingleton<IOutboxRelayDatabase>(new Reversing()));
        var transport = new FailingTransport();
        using var relay = Relay(host, transport, new OutboxRelayOptions());
        var order = Order.Place("c", 1);
        order.RaiseEvent(new OrderPlaced(order.Id, 2));
        order.RaiseEvent(new OrderPlaced(order.Id, 3));
        await host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(3);

        transport.Sent.Select(e => e.Id).Should().Equal((await host.OutboxAsync()).Select(r => r.Id), "one key's rows go out in id order");
    }

    private static OutboxRelay<OrderingDbContext> Relay(TestHost host, IOutboxTransport transport, OutboxRelayOptions options) =>
        new(host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

    /// <summary>The built-in SQLite statements, with each claim's rows handed back in reverse.</summary>
    private sealed class Reversing : IOutboxRelayDatabase
    {
        public IOutboxRelayStatements? For(DbContext context) => new Statements(RelayTable.BuiltIn(context)!);

        private sealed class Statements(IOutboxRelayStatements inner) : IOutboxRelayStatements
        {
            public async Task<OutboxClaim> ClaimAsync(System.Data.Common.DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken)
            {
                var claim = await inner.ClaimAsync(connection, request, cancellationToken);
                return claim with { Rows = [.. claim.Rows.OrderByDescending(r => r.Id)] };
            }

            public Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(System.Data.Common.DbConnection connection, OutboxClaimRequest request, IReadOnlyList<OutboxEnvelope> rows, CancellationToken cancellationToken) =>
                inner.ClaimCommittedAsync(connection, request, rows, cancellationToken);

            public Task<int> MarkProcessedAsync(System.Data.Common.DbConnection connection, string owner, IReadOnlyCollection<long> ids, DateTime now, CancellationToken cancellationToken) =>
                inner.MarkProcessedAsync(connection, owner, ids, now, cancellationToken);

            public Task<int> ReleaseAsync(System.Data.Common.DbConnection connection, string owner, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
                inner.ReleaseAsync(connection, owner, ids, cancellationToken);

            public Task<int> MarkFailedAsync(System.Data.Common.DbConnection connection, OutboxFailedAttempt attempt, CancellationToken cancellationToken) =>
                inner.MarkFailedAsync(connection, attempt, cancellationToken);

            public Task<int> DeleteProcessedAsync(System.Data.Common.DbConnection connection, DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
                inner.DeleteProcessedAsync(connection, cutoff, batchSize, cancellationToken);
        }
    }

    private sealed class FailingTransport : IOutboxTransport
    {
        public ConcurrentQueue<OutboxEnvelope> Sent { get; } = new();

        public ConcurrentDictionary<Guid, bool> Fail { get; } = new();

        public Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            if (Fail.ContainsKey(envelope.MessageId))
            {
                throw new InvalidOperationException("refused");
            }

            Sent.Enqueue(envelope);
            return Task.CompletedTask;
        }
    }
}
