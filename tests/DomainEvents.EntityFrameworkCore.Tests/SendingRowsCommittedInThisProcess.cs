using System.Collections.Concurrent;
using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A commit hands the rows it wrote to the relay of its process, which leases them by id and sends them from memory
/// without searching the table. The claim's rules still hold: a key whose earlier row is leased elsewhere or waiting
/// for a retry keeps its order, and a row is only ever taken from the database it was committed to.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class SendingRowsCommittedInThisProcess(DatabaseProvider provider)
{
    private TestHost _host = null!;
    private RecordingTransport _transport = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _host = await TestHost.StartAsync(provider);
        _transport = new RecordingTransport();
    }

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task Rows_a_commit_wrote_are_sent_from_memory_as_they_are_stored()
    {
        using var relay = await StartedRelayAsync(_host.Services.GetRequiredService<OutboxSignal>());
        var order = Order.Place("c1", 10m);
        order.RaiseEvent(new OrderShipped(order.Id));
        await SaveAsync(_host, order);

        relay.CommittedWaiting.Should().Be(2, "the commit handed its two rows to the relay");
        var result = await relay.RunOnceAsync(CancellationToken.None, committedOnly: true);

        result.Processed.Should().Be(2, "the relay leases them by id and needs no claim over the table");
        var rows = await _host.OutboxAsync();
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
        _transport.Sent.Select(e => e.Id).Should().Equal(rows.Select(r => r.Id));
        _transport.Sent.Should().BeEquivalentTo(
            rows.Select(r => new OutboxEnvelope(r.Id, r.MessageId, r.MessageType, r.Version, r.Exchange, r.RoutingKey, r.PartitionKey, r.Payload, r.Headers, r.OccurredAt, 0)),
            o => o.WithStrictOrdering(),
            "what is sent from memory is what a claim would read back");
    }

    [Test]
    public async Task Rows_of_an_explicit_transaction_are_handed_over_only_when_it_commits()
    {
        using var relay = await StartedRelayAsync(_host.Services.GetRequiredService<OutboxSignal>());
        await using var scope = _host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        db.Orders.Add(Order.Place("c1", 10m));
        await db.SaveChangesAsync();

        relay.CommittedWaiting.Should().Be(0, "nothing is committed yet");

        await transaction.CommitAsync();
        relay.CommittedWaiting.Should().Be(1);
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Processed.Should().Be(1);
    }

    [Test]
    public async Task A_committed_row_waits_while_an_earlier_row_of_its_key_is_leased_by_another_relay()
    {
        var order = Order.Place("c1", 10m);
        await SaveAsync(_host, order);
        var first = (await _host.OutboxAsync()).Single();
        await SetLeaseAsync(first.Id, "another-relay", DateTime.UtcNow.AddHours(1));

        using var relay = await StartedRelayAsync(_host.Services.GetRequiredService<OutboxSignal>());
        await AddEventAsync(order.Id, new OrderShipped(order.Id));

        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0, "the key is being sent by another relay");
        _transport.Sent.Should().BeEmpty();

        // The other relay's lease runs out without a mark: the key's rows go out in order, the earlier one first.
        await SetLeaseAsync(first.Id, null, null);
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(2);
        _transport.Sent.Select(e => e.Id).Should().Equal((await _host.OutboxAsync()).Select(r => r.Id));
    }

    [Test]
    public async Task A_committed_row_waits_behind_an_earlier_row_of_its_key_that_backs_off()
    {
        var order = Order.Place("c1", 10m);
        await SaveAsync(_host, order);
        var first = (await _host.OutboxAsync()).Single();
        await BackOffAsync(first.Id, TimeSpan.FromHours(1));

        using var relay = await StartedRelayAsync(_host.Services.GetRequiredService<OutboxSignal>());
        await AddEventAsync(order.Id, new OrderShipped(order.Id));

        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0, "the key's first row waits for its retry");
        (await relay.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0, "a claim over the table keeps the same order");
        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.LeaseOwner == null);
        _transport.Sent.Should().BeEmpty();
    }

    [Test]
    public async Task Rows_never_attempted_are_claimed_even_when_the_clock_was_set_back_after_they_were_written()
    {
        // The host that wrote the rows has its clock set back an hour: their next_attempt_at (the time they were written)
        // now lies ahead. Never attempted, they are due anyway, and go out in order.
        var order = Order.Place("c1", 10m);
        order.RaiseEvent(new OrderShipped(order.Id));
        await SaveAsync(_host, order);
        await _host.InScopeAsync(async db =>
        {
            foreach (var row in await db.Set<OutboxMessage>().ToListAsync())
            {
                row.NextAttemptAt = DateTime.UtcNow.AddHours(1);
            }

            await db.SaveChangesAsync();
        });
        using var relay = Relay(_host, _transport, new OutboxRelayOptions(), new OutboxSignal());

        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(2);
        _transport.Sent.Select(e => e.Id).Should().Equal((await _host.OutboxAsync()).Select(r => r.Id));
    }

    [Test]
    public async Task Rows_committed_to_another_database_never_lease_the_rows_of_this_one()
    {
        // A context type whose connection differs per tenant: the relay of this database is handed rows committed to another.
        await using var tenant = await TestHost.StartAsync(provider);
        using var relay = await StartedRelayAsync(tenant.Services.GetRequiredService<OutboxSignal>());
        await SaveAsync(_host, Order.Place("here", 1m));
        await SaveAsync(tenant, Order.Place("elsewhere", 2m));
        var here = (await _host.OutboxAsync()).Single();
        var elsewhere = (await tenant.OutboxAsync()).Single();
        elsewhere.Id.Should().Be(here.Id, "both databases number their rows from the start");

        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0);
        (await _host.OutboxAsync()).Single().Should().Match<OutboxMessage>(r => r.Status == OutboxMessageStatus.Pending && r.LeaseOwner == null);

        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);
        _transport.Sent.Should().ContainSingle().Which.MessageId.Should().Be(here.MessageId, "this database's row is sent with its own payload");
    }

    [Test]
    public async Task A_commit_that_would_overfill_the_relays_queue_is_left_to_a_claim()
    {
        using var relay = await StartedRelayAsync(_host.Services.GetRequiredService<OutboxSignal>(), new OutboxRelayOptions { BatchSize = 1, PollingInterval = TimeSpan.FromHours(1) });
        var order = Order.Place("c1", 10m);
        for (var i = 0; i < OutboxRelay<OrderingDbContext>.CommittedQueueBatches; i++)
        {
            order.RaiseEvent(new OrderShipped(order.Id));
        }

        await SaveAsync(_host, order);

        // Five rows do not fit a queue of four: the relay keeps none of them and was asked to claim, which finds them in order.
        relay.CommittedWaiting.Should().Be(0);
        await AddEventAsync(order.Id, new OrderShipped(order.Id));
        relay.CommittedWaiting.Should().Be(1, "a commit that fits is taken");
        var sent = 0;
        for (var i = 0; i < 6; i++)
        {
            sent += (await relay.RunOnceAsync(CancellationToken.None)).Processed;
        }

        sent.Should().Be(6);
        _transport.Sent.Select(e => e.Id).Should().Equal((await _host.OutboxAsync()).Select(r => r.Id));
    }

    [Test]
    public async Task A_committed_row_waits_behind_an_earlier_row_of_the_same_hand_over_that_has_failed_since()
    {
        using var relay = await StartedRelayAsync(_host.Services.GetRequiredService<OutboxSignal>());
        var order = Order.Place("c1", 10m);
        await SaveAsync(_host, order);

        // Another relay takes the first row before this one gets to it, and the broker refuses it: it backs off.
        var refusing = new RecordingTransport { Refuse = true };
        using var other = Relay(_host, refusing, new OutboxRelayOptions { RetryBaseDelay = TimeSpan.FromHours(1), RetryMaxDelay = TimeSpan.FromHours(1) }, new OutboxSignal());
        (await other.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(1);
        (await _host.OutboxAsync()).Single().Attempts.Should().Be(1);

        await AddEventAsync(order.Id, new OrderShipped(order.Id));
        relay.CommittedWaiting.Should().Be(2, "both rows were handed over");

        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0, "the second row must not pass the first, which waits for its retry");
        _transport.Sent.Should().BeEmpty();
    }

    [Test]
    public async Task Rows_of_two_databases_with_the_same_ids_in_one_hand_over_are_told_apart()
    {
        // One context type whose connection differs per tenant: a relay can be handed rows of both databases at once.
        await using var tenant = await TestHost.StartAsync(provider);
        var (signal, otherSignal) = (new OutboxSignal(), new OutboxSignal());
        using var relay = await StartedRelayAsync(signal);
        using var otherRelay = await StartedRelayAsync(otherSignal);
        var order = Order.Place("here", 1m);
        order.RaiseEvent(new OrderShipped(order.Id));
        await SaveAsync(_host, order);
        await SaveAsync(tenant, Order.Place("elsewhere", 2m));
        var here = await _host.OutboxAsync();
        var elsewhere = (await tenant.OutboxAsync()).Single();
        elsewhere.Id.Should().Be(here[0].Id, "both databases number their rows from the start");

        // The tenant's row has the id of this database's first row: that row is not handed over, so the second waits.
        otherSignal.Committed(typeof(OrderingDbContext), [elsewhere, here[1]]);
        (await otherRelay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0, "the key's first row has not been sent");

        // Handed over together with the tenant's row of the same id, only this database's row is sent.
        signal.Committed(typeof(OrderingDbContext), [elsewhere, here[0]]);
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Processed.Should().Be(1);
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);

        _transport.Sent.Select(e => e.MessageId).Should().Equal(here.Select(r => r.MessageId), "this database's rows, once each, in order");
    }

    [Test]
    public async Task A_row_that_a_claim_over_the_table_sent_and_a_commit_handed_over_after_it_asks_for_no_other_claim()
    {
        // A commit that lands as a claim over the table starts hands its row over after the claim emptied the relay's
        // queue, and the claim finds the row too. The claim sends it. Its hand-over must not fail a lease by id and ask
        // for another claim: under a steady stream of commits each claim would then ask for the next.
        var signal = new OutboxSignal();
        using var relay = await StartedRelayAsync(signal);
        var alone = await ClaimsOverTableForOneRowAsync(relay, handOver: null);
        var handedOver = await ClaimsOverTableForOneRowAsync(relay, handOver: row => signal.Committed(typeof(OrderingDbContext), [row]));

        // On PostgreSQL the claim that sends a row asks for no other (1 and 1). On SQLite, which cannot tell whose keys are
        // busy, it always asks for one more, which also empties the queue (2 and 2).
        handedOver.Should().Be(alone, "the hand-over of a row the claim took asks for no claim of its own");
        relay.CommittedWaiting.Should().Be(0);
        _transport.Sent.Select(e => e.Id).Should().Equal((await _host.OutboxAsync()).Select(r => r.Id), "each row once");
    }

    /// <summary>Saves an order unseen by the relay, lets a claim over the table send it, hands it over, then runs the relay twice more.</summary>
    private async Task<long> ClaimsOverTableForOneRowAsync(OutboxRelay<OrderingDbContext> relay, Action<OutboxMessage>? handOver)
    {
        var before = relay.ClaimsOverTable;
        var order = Order.Place("c1", 10m);
        await SaveAsync(_host, order);
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1, "the claim over the table finds the row");
        handOver?.Invoke((await _host.OutboxAsync()).Single(r => r.PartitionKey.Contains(order.Id.ToString(), StringComparison.OrdinalIgnoreCase)));
        for (var i = 0; i < 2; i++)
        {
            (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0, "the row is sent already");
        }

        return relay.ClaimsOverTable - before;
    }

    [Test]
    public async Task Rows_that_need_a_claim_are_found_while_commits_keep_waking_the_relay()
    {
        // Commits wake the relay every 50 ms, more often than it polls: its retry still comes once it is due.
        var first = await RetryWhileCommitsComeAsync(_transport, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(50));

        _transport.Sent.Should().Contain(e => e.Id == first, "a claim over the table runs every polling interval");
    }

    [Test]
    public async Task A_commit_is_sent_while_two_batches_of_earlier_commits_wait_for_the_broker()
    {
        // The broker holds on to the rows of two orders, each committed alone and so sent in a batch of its own. The row of
        // a third order, committed next, is leased and sent at once: it does not wait for either batch to finish.
        var (first, second, third) = (Order.Place("a", 1m), Order.Place("b", 1m), Order.Place("c", 1m));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Hold = gate.Task, HoldOnly = e => !e.PartitionKey.Contains(third.Id.ToString(), StringComparison.OrdinalIgnoreCase) };
        using var relay = Relay(_host, transport, new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) });

        // Its first claim over the table is made before the commits, so that none of them is found by it.
        (await relay.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0);
        await relay.StartAsync(CancellationToken.None);
        try
        {
            await SaveAsync(_host, first);
            await WaitForAsync(() => transport.Held.Count == 1);
            await SaveAsync(_host, second);
            await WaitForAsync(() => transport.Held.Count == 2);

            await SaveAsync(_host, third);
            await WaitForAsync(() => !transport.Sent.IsEmpty);
            transport.Sent.Should().ContainSingle().Which.PartitionKey.Should().Contain(third.Id.ToString(), "the third order's row went out while the broker held the other two");

            gate.SetResult();
            await WaitForAsync(() => transport.Sent.Count == 3);
            transport.Sent.Select(e => e.Id).Should().OnlyHaveUniqueItems();
            await WaitForAsync(() => _host.OutboxAsync().GetAwaiter().GetResult().All(r => r.Status == OutboxMessageStatus.Processed));
        }
        finally
        {
            gate.TrySetResult();
            await relay.StopAsync(CancellationToken.None);
        }
    }

    [Test]
    public async Task A_claim_over_the_table_is_not_held_off_by_commits_that_keep_batches_in_flight()
    {
        // Each send takes 300 ms and a commit comes every 20 ms or so, so batches of committed rows are always in flight,
        // as many as the relay allows. Only a claim over the table finds the row whose retry comes due; the polling
        // interval asks for one, and it runs.
        var transport = new RecordingTransport { SendTime = TimeSpan.FromMilliseconds(300) };
        var first = await RetryWhileCommitsComeAsync(transport, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(20));

        transport.Sent.Should().Contain(e => e.Id == first, "a claim over the table that is due runs while batches of commits are in flight");
        transport.Sent.TakeWhile(e => e.Id != first).Should().HaveCountGreaterThan(5, "commits were being sent before the retry came due");
        transport.Sent.Select(e => e.Id).Should().OnlyHaveUniqueItems();
    }

    /// <summary>
    /// A row whose retry is due in <paramref name="retryDue"/>, and a relay polling every 200 ms that is handed a commit of
    /// another key every <paramref name="between"/> until <paramref name="transport"/> has sent the row (10 s at most).
    /// </summary>
    /// <returns>The id of the row that waited for its retry.</returns>
    private async Task<long> RetryWhileCommitsComeAsync(RecordingTransport transport, TimeSpan retryDue, TimeSpan between)
    {
        await SaveAsync(_host, Order.Place("c1", 10m));
        var first = (await _host.OutboxAsync()).Single().Id;
        await BackOffAsync(first, retryDue);

        using var relay = Relay(_host, transport, new OutboxRelayOptions { PollingInterval = TimeSpan.FromMilliseconds(200) });
        await relay.StartAsync(CancellationToken.None);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!transport.Sent.Any(e => e.Id == first) && DateTime.UtcNow < deadline)
            {
                await SaveAsync(_host, Order.Place("busy", 1m));
                await Task.Delay(between);
            }
        }
        finally
        {
            await relay.StopAsync(CancellationToken.None);
        }

        return first;
    }

    [Test]
    public async Task A_row_a_claim_left_because_its_key_was_being_sent_is_claimed_when_the_key_is_free()
    {
        // The relay is handed the key's first row and sends it; meanwhile another process commits the key's second row
        // and notifies. The claim that notification causes finds the key busy; the relay claims again once it is free,
        // not a polling interval later.
        var signal = new OutboxSignal();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var transport = new RecordingTransport { Hold = gate.Task };
        using var relay = Relay(_host, transport, new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) }, signal);
        await relay.StartAsync(CancellationToken.None);
        try
        {
            var order = Order.Place("c1", 10m);
            await SaveAsync(_host, order);
            signal.Committed(typeof(OrderingDbContext), await _host.OutboxAsync());
            await WaitForAsync(() => transport.Held.Count == 1);

            await AddEventAsync(order.Id, new OrderShipped(order.Id));
            var busyBefore = relay.ClaimsThatFoundBusyKeys;
            signal.NotifyFromNotification("another process");
            await WaitForAsync(() => relay.ClaimsThatFoundBusyKeys > busyBefore);

            gate.SetResult();
            await WaitForAsync(() => transport.Sent.Count == 2);
            transport.Sent.Select(e => e.Id).Should().Equal((await _host.OutboxAsync()).Select(r => r.Id));
        }
        finally
        {
            gate.TrySetResult();
            await relay.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>A relay of the host's context on <paramref name="transport"/>, woken by the host's signal unless given one of its own.</summary>
    internal static OutboxRelay<OrderingDbContext> Relay(TestHost host, IOutboxTransport transport, OutboxRelayOptions options, OutboxSignal? signal = null) =>
        new(
            host.Services.GetRequiredService<IServiceScopeFactory>(),
            signal ?? host.Services.GetRequiredService<OutboxSignal>(),
            transport,
            options,
            TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

    internal static Task WaitForAsync(Func<bool> condition) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(10), "The relay did not get there within 10 s.");

    /// <summary>A relay that has made its first claim over the table (which every relay makes when it starts).</summary>
    private async Task<OutboxRelay<OrderingDbContext>> StartedRelayAsync(OutboxSignal signal, OutboxRelayOptions? options = null)
    {
        var relay = Relay(_host, _transport, options ?? new OutboxRelayOptions { BatchSize = 100, PollingInterval = TimeSpan.FromHours(1) }, signal);
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Claimed.Should().Be(0);
        return relay;
    }

    internal static Task SaveAsync(TestHost host, Order order) =>
        host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

    /// <summary>The row failed once and waits for its retry, due in <paramref name="due"/>.</summary>
    private Task BackOffAsync(long id, TimeSpan due) =>
        _host.InScopeAsync(async db =>
        {
            var row = await db.Set<OutboxMessage>().SingleAsync(r => r.Id == id);
            row.Attempts = 1;
            row.NextAttemptAt = DateTime.UtcNow + due;
            row.LastError = "refused";
            await db.SaveChangesAsync();
        });

    private Task AddEventAsync(Guid orderId, IDomainEvent domainEvent) =>
        _host.InScopeAsync(async db =>
        {
            var order = await db.Orders.SingleAsync(o => o.Id == orderId);
            order.RaiseEvent(domainEvent);
            await db.SaveChangesAsync();
        });

    private Task SetLeaseAsync(long id, string? owner, DateTime? expires) =>
        _host.InScopeAsync(async db =>
        {
            var row = await db.Set<OutboxMessage>().SingleAsync(r => r.Id == id);
            row.LeaseOwner = owner;
            row.LeaseExpiresAt = expires;
            await db.SaveChangesAsync();
        });

    internal sealed class RecordingTransport : IOutboxTransport
    {
        public ConcurrentQueue<OutboxEnvelope> Sent { get; } = new();

        /// <summary>Refuses every message, as a broker that nacks it.</summary>
        public bool Refuse { get; init; }

        /// <summary>While set, sends wait for it; the waiting rows are in <see cref="Held"/>.</summary>
        public Task? Hold { get; init; }

        /// <summary>The rows <see cref="Hold"/> holds back; every row when not set.</summary>
        public Func<OutboxEnvelope, bool>? HoldOnly { get; init; }

        /// <summary>How long each send takes before it is confirmed.</summary>
        public TimeSpan SendTime { get; init; }

        public ConcurrentQueue<OutboxEnvelope> Held { get; } = new();

        public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            if (Refuse)
            {
                throw new InvalidOperationException("nacked");
            }

            if (Hold is { IsCompleted: false } hold && (HoldOnly?.Invoke(envelope) ?? true))
            {
                Held.Enqueue(envelope);
                await hold;
            }

            if (SendTime > TimeSpan.Zero)
            {
                await Task.Delay(SendTime, CancellationToken.None);
            }

            Sent.Enqueue(envelope);
        }
    }
}

/// <summary>In an ambient <see cref="System.Transactions.TransactionScope"/>, rows are handed over when the scope commits.</summary>
[Category("Integration")]
public sealed class SendingRowsCommittedInATransactionScope
{
    [Test]
    public async Task Rows_saved_in_a_transaction_scope_are_handed_over_when_it_completes_and_not_when_it_is_rolled_back()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        using var relay = SendingRowsCommittedInThisProcess.Relay(host, new SendingRowsCommittedInThisProcess.RecordingTransport(), new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) });

        using (new System.Transactions.TransactionScope(System.Transactions.TransactionScopeAsyncFlowOption.Enabled))
        {
            await host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("rolled back", 1m));
                await db.SaveChangesAsync();
            });
        }

        relay.CommittedWaiting.Should().Be(0, "the scope was not completed");

        using (var scope = new System.Transactions.TransactionScope(System.Transactions.TransactionScopeAsyncFlowOption.Enabled))
        {
            await host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("committed", 1m));
                await db.SaveChangesAsync();
            });
            relay.CommittedWaiting.Should().Be(0, "nothing is committed before the scope is");
            scope.Complete();
        }

        relay.CommittedWaiting.Should().Be(1);
        (await relay.RunOnceAsync(CancellationToken.None, committedOnly: true)).Processed.Should().Be(1);
        (await host.OutboxAsync()).Should().ContainSingle().Which.Status.Should().Be(OutboxMessageStatus.Processed);
    }
}

/// <summary>
/// The relay keeps a few connections open between its statements, when its statements allow it. One the server has cut
/// costs a failed statement, not a row: the relay closes what it kept, opens new ones and finds what it could not lease.
/// It closes what it kept when it stops.
/// </summary>
[Category("Integration")]
public sealed class KeepingTheRelaysConnectionsOpen
{
    [Test]
    public async Task The_relays_statements_reuse_a_few_connections_and_rows_committed_after_the_server_cut_them_are_sent_once()
    {
        var statements = new WatchedStatements(keep: true);
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql, services: s => s.AddSingleton<IOutboxRelayDatabase>(statements));
        var transport = new SendingRowsCommittedInThisProcess.RecordingTransport();
        using var relay = StartRelay(host, transport);
        await relay.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 10; i++)
            {
                await SaveAsync(host, Order.Place("before " + i, 1m));
                await WaitForAsync(() => host.OutboxAsync().GetAwaiter().GetResult().All(r => r.Status == OutboxMessageStatus.Processed));
            }

            // The last mark's connection is kept once its statement has returned.
            await WaitForAsync(() => relay.ConnectionsKept > 0);
            statements.Succeeded.Should().BeGreaterThanOrEqualTo(20, "each commit's rows were leased, then marked");
            statements.Connections.Should().BeInRange(1, OutboxRelay<OrderingDbContext>.KeptConnections, "statements reuse the connections the relay keeps");
            statements.Reused.Should().BePositive();

            // Every other session of the database ends, as in a failover; the writers' pool is emptied so that the next save
            // opens a new connection, while the relay's kept ones stay, cut.
            await host.InScopeAsync(db => db.Database.ExecuteSqlRawAsync(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"));
            Npgsql.NpgsqlConnection.ClearAllPools();

            await SaveAsync(host, Order.Place("after", 1m));
            await SaveAsync(host, Order.Place("after, too", 1m));
            await WaitForAsync(() => transport.Sent.Count >= 12);
            await WaitForAsync(() => host.OutboxAsync().GetAwaiter().GetResult().All(r => r.Status == OutboxMessageStatus.Processed));
            statements.Failed.Should().BePositive("a statement ran on a connection the server had cut");
            transport.Sent.Select(e => e.Id).Should().OnlyHaveUniqueItems().And.BeEquivalentTo((await host.OutboxAsync()).Select(r => r.Id));
        }
        finally
        {
            await relay.StopAsync(CancellationToken.None);
        }

        relay.ConnectionsKept.Should().Be(0, "a stopped relay keeps no connection open");
    }

    [Test]
    public async Task Statements_that_do_not_say_their_connections_can_be_kept_get_a_connection_each()
    {
        var statements = new WatchedStatements(keep: false);
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql, services: s => s.AddSingleton<IOutboxRelayDatabase>(statements));
        using var relay = StartRelay(host, new SendingRowsCommittedInThisProcess.RecordingTransport());
        await relay.StartAsync(CancellationToken.None);
        try
        {
            for (var i = 0; i < 3; i++)
            {
                await SaveAsync(host, Order.Place("order " + i, 1m));
                await WaitForAsync(() => host.OutboxAsync().GetAwaiter().GetResult().All(r => r.Status == OutboxMessageStatus.Processed));
            }

            relay.ConnectionsKept.Should().Be(0);
            statements.Succeeded.Should().BeGreaterThanOrEqualTo(6);
            statements.Reused.Should().Be(0, "a provider that does not allow it gets a new context and connection for each statement");
        }
        finally
        {
            await relay.StopAsync(CancellationToken.None);
        }
    }

    private static OutboxRelay<OrderingDbContext> StartRelay(TestHost host, IOutboxTransport transport) =>
        SendingRowsCommittedInThisProcess.Relay(host, transport, new OutboxRelayOptions { PollingInterval = TimeSpan.FromHours(1) });

    private static Task WaitForAsync(Func<bool> condition) => SendingRowsCommittedInThisProcess.WaitForAsync(condition);

    private static Task SaveAsync(TestHost host, Order order) => SendingRowsCommittedInThisProcess.SaveAsync(host, order);

    /// <summary>The built-in statements, counting the connection objects they ran on and the statements that failed.</summary>
    private sealed class WatchedStatements(bool keep) : IOutboxRelayDatabase, IOutboxRelayStatements
    {
        private readonly ConcurrentDictionary<DbConnection, bool> _connections = new();
        private IOutboxRelayStatements _inner = null!;
        private int _succeeded;
        private int _failed;
        private int _reused;

        public int Connections => _connections.Count;

        public int Succeeded => Volatile.Read(ref _succeeded);

        public int Failed => Volatile.Read(ref _failed);

        /// <summary>Statements that ran on a connection object an earlier statement had run on.</summary>
        public int Reused => Volatile.Read(ref _reused);

        public bool ConnectionsCanBeKept => keep;

        public IOutboxRelayStatements? For(DbContext context)
        {
            _inner = RelayTable.BuiltIn(context)!;
            return this;
        }

        public Task<OutboxClaim> ClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.ClaimAsync(connection, request, cancellationToken));

        public Task<bool> MayClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.MayClaimAsync(connection, request, cancellationToken));

        public Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(DbConnection connection, OutboxClaimRequest request, IReadOnlyList<OutboxEnvelope> rows, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.ClaimCommittedAsync(connection, request, rows, cancellationToken));

        public Task<int> MarkProcessedAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, DateTime now, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.MarkProcessedAsync(connection, owner, ids, now, cancellationToken));

        public Task<int> MarkFailedAsync(DbConnection connection, OutboxFailedAttempt attempt, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.MarkFailedAsync(connection, attempt, cancellationToken));

        public Task<int> ReleaseAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.ReleaseAsync(connection, owner, ids, cancellationToken));

        public Task<int> DeleteProcessedAsync(DbConnection connection, DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
            WatchAsync(connection, () => _inner.DeleteProcessedAsync(connection, cutoff, batchSize, cancellationToken));

        private async Task<T> WatchAsync<T>(DbConnection connection, Func<Task<T>> statement)
        {
            try
            {
                var result = await statement();
                if (!_connections.TryAdd(connection, true))
                {
                    Interlocked.Increment(ref _reused);
                }

                Interlocked.Increment(ref _succeeded);
                return result;
            }
            catch
            {
                Interlocked.Increment(ref _failed);
                throw;
            }
        }
    }
}
