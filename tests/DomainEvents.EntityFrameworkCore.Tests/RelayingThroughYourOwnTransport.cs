using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>The relay's rules, driven batch by batch through a transport that does what each test tells it.</summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class RelayingThroughYourOwnTransport(DatabaseProvider provider)
{
    private TestHost _host = null!;
    private ScriptedTransport _transport = null!;
    private OutboxRelay<OrderingDbContext> _relay = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _host = await TestHost.StartAsync(provider);
        _transport = new ScriptedTransport();
        var options = new OutboxRelayOptions
        {
            MaxAttempts = 3,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
            RetryMaxDelay = TimeSpan.FromMilliseconds(1),
            BatchSize = 100,
        };
        _relay = new OutboxRelay<OrderingDbContext>(
            _host.Services.GetRequiredService<IServiceScopeFactory>(),
            new OutboxSignal(),
            _transport,
            options,
            TimeProvider.System,
            NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
    }

    [TearDown]
    public async Task StopAsync()
    {
        _relay.Dispose();
        await _host.DisposeAsync();
    }

    [Test]
    public async Task Confirmed_rows_are_processed_in_order_per_partition_key()
    {
        var orders = await SaveOrdersAsync(count: 3, eventsEach: 4);

        (await _relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(15);

        foreach (var order in orders)
        {
            _transport.Sent.Where(e => e.PartitionKey == $"Order/{order.Id}").Select(e => e.Id).Should().BeInAscendingOrder().And.HaveCount(5);
        }

        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.ProcessedAt != null && r.LeaseOwner == null);
    }

    [Test]
    public async Task A_failing_row_holds_back_only_the_later_rows_of_its_partition_and_goes_dead_after_max_attempts()
    {
        var orders = await SaveOrdersAsync(count: 2, eventsEach: 2);
        var poisoned = (await _host.OutboxAsync()).First(r => r.PartitionKey == $"Order/{orders[0].Id}");
        _transport.Fail[poisoned.MessageId] = () => new InvalidOperationException("refused");

        await _relay.RunOnceAsync(CancellationToken.None);
        var rows = await _host.OutboxAsync();
        rows.Where(r => r.PartitionKey == $"Order/{orders[1].Id}").Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed, "other keys flow");
        rows.Where(r => r.PartitionKey == $"Order/{orders[0].Id}" && r.Id != poisoned.Id)
            .Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 0 && r.LeaseOwner == null, "later rows of the key wait and are not charged");
        rows.Single(r => r.Id == poisoned.Id).Should().Match<OutboxMessage>(r => r.Attempts == 1 && r.LastError!.Contains("refused") && r.Status == OutboxMessageStatus.Pending);

        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(20);
            await _relay.RunOnceAsync(CancellationToken.None);
        }

        rows = await _host.OutboxAsync();
        rows.Single(r => r.Id == poisoned.Id).Should().Match<OutboxMessage>(r => r.Status == OutboxMessageStatus.Dead && r.Attempts == 3);
        rows.Where(r => r.Id != poisoned.Id).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed, "a dead row no longer holds back its key");
        _transport.Sent.Count(e => e.Id == poisoned.Id).Should().Be(0);
    }

    [Test]
    public async Task A_permanent_rejection_is_dead_at_once()
    {
        await SaveOrdersAsync(count: 1, eventsEach: 0);
        var row = (await _host.OutboxAsync()).Single();
        _transport.Fail[row.MessageId] = () => new PermanentDeliveryException("400 Bad Request");

        await _relay.RunOnceAsync(CancellationToken.None);

        (await _host.OutboxAsync()).Single().Should().Match<OutboxMessage>(r => r.Status == OutboxMessageStatus.Dead && r.Attempts == 1 && r.LastError!.Contains("400 Bad Request"));
    }

    [Test]
    public async Task A_deferred_delivery_waits_at_least_as_long_as_the_destination_asked()
    {
        await SaveOrdersAsync(count: 1, eventsEach: 0);
        var row = (await _host.OutboxAsync()).Single();
        _transport.Fail[row.MessageId] = () => new DeferredDeliveryException("429 Too Many Requests", TimeSpan.FromSeconds(30));
        var before = DateTime.UtcNow;

        await _relay.RunOnceAsync(CancellationToken.None);

        var failed = (await _host.OutboxAsync()).Single();
        failed.Attempts.Should().Be(1);
        failed.NextAttemptAt.Should().BeOnOrAfter(before.AddSeconds(30));
        (await _relay.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0, "the row is not due yet");
    }

    [Test]
    public async Task A_deferred_delivery_asking_for_longer_than_the_longest_interval_waits_that_long_and_counts()
    {
        await SaveOrdersAsync(count: 1, eventsEach: 0);
        var row = (await _host.OutboxAsync()).Single();
        _transport.Fail[row.MessageId] = () => new DeferredDeliveryException("Retry-After: never", TimeSpan.MaxValue);
        var before = DateTime.UtcNow;

        await _relay.RunOnceAsync(CancellationToken.None);

        var failed = (await _host.OutboxAsync()).Single();
        failed.Should().Match<OutboxMessage>(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 1 && r.LeaseOwner == null);
        failed.NextAttemptAt.Should().BeCloseTo(before + OutboxRelayOptions.MaxInterval, TimeSpan.FromMinutes(1));
    }

    [Test]
    public async Task An_unavailable_transport_charges_no_attempt_and_releases_the_rows()
    {
        await SaveOrdersAsync(count: 2, eventsEach: 1);
        _transport.Unavailable = true;

        var result = await _relay.RunOnceAsync(CancellationToken.None);

        result.TransportUnavailable.Should().NotBeNull();
        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 0 && r.LeaseOwner == null);

        _transport.Unavailable = false;
        (await _relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(4);
    }

    [Test]
    public async Task A_batch_claimed_while_another_is_still_sending_takes_only_other_partition_keys()
    {
        var options = new OutboxRelayOptions { BatchSize = 2 };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        await SaveOrdersAsync(count: 3, eventsEach: 2);   // three keys, three rows each
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _transport.Hold = gate.Task;

        var first = relay.RunOnceAsync(CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_transport.Held.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        await Task.Delay(200);   // every key of the first batch has its first send waiting
        var held = _transport.Held.Select(e => e.PartitionKey).ToHashSet();
        held.Should().NotBeEmpty();
        _transport.Hold = null;

        var second = await relay.RunOnceAsync(CancellationToken.None);
        second.Claimed.Should().BeGreaterThan(0, "the third key is free");
        _transport.Sent.Select(e => e.PartitionKey).Should().NotIntersectWith(held, "a key with a row in flight is never claimed by another batch");

        gate.SetResult();
        (await first).Processed.Should().Be(2);
        while ((await relay.RunOnceAsync(CancellationToken.None)).Claimed > 0)
        {
        }

        var rows = await _host.OutboxAsync();
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
        foreach (var key in rows.Select(r => r.PartitionKey).Distinct())
        {
            _transport.Sent.Where(e => e.PartitionKey == key).Select(e => e.Id).Should().Equal(rows.Where(r => r.PartitionKey == key).Select(r => r.Id).Order(), "each key is sent once, in order");
        }
    }

    [Test]
    public async Task A_dead_row_retried_while_later_rows_of_its_key_are_being_sent_waits_until_they_are_done()
    {
        var order = (await SaveOrdersAsync(count: 1, eventsEach: 2)).Single();
        var rows = await _host.OutboxAsync();
        var first = rows[0];
        await _host.InScopeAsync(db => db.Set<OutboxMessage>().Where(r => r.Id == first.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, OutboxMessageStatus.Dead).SetProperty(r => r.Attempts, 3)));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _transport.Hold = gate.Task;

        var sending = _relay.RunOnceAsync(CancellationToken.None);
        await WaitUntilAsync(() => !_transport.Held.IsEmpty);
        _transport.Held.Single().Id.Should().Be(rows[1].Id, "the dead row no longer holds back its key");

        // An operator retries the dead row while the later rows of its key are in flight.
        await using (var scope = _host.Services.CreateAsyncScope())
        {
            (await scope.ServiceProvider.GetRequiredService<IOutboxAdministration>().RetryDeadAsync(first.MessageId)).Should().Be(1);
        }

        var options = new OutboxRelayOptions { BatchSize = 100 };
        using var other = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        (await other.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0, "a key with a live lease is busy, whatever the id of its pending rows");

        _transport.Hold = null;
        gate.SetResult();
        (await sending).Processed.Should().Be(2);
        (await other.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);

        _transport.Sent.Select(e => e.Id).Should().Equal([rows[1].Id, rows[2].Id, first.Id], "each row is sent once, the retried one after the rows that were in flight");
        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.PartitionKey == $"Order/{order.Id}");
    }

    [Test]
    public async Task A_batch_that_outlasts_half_its_lease_starts_no_more_sends_so_no_row_is_sent_by_two_claims()
    {
        await SaveOrdersAsync(count: 1, eventsEach: 7);   // one key, eight rows
        _transport.Delay = TimeSpan.FromMilliseconds(400);
        var options = new OutboxRelayOptions { BatchSize = 100, SendTimeout = TimeSpan.FromMilliseconds(500), LeaseDuration = TimeSpan.FromSeconds(2), InstanceName = "relay-a" };
        using var first = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        using var second = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

        // Sending all eight rows one after the other would take 3.2 s, longer than the 2 s lease; a second relay of the
        // same instance name claims once that lease would have run out.
        var slow = first.RunOnceAsync(CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(2.2));
        var late = second.RunOnceAsync(CancellationToken.None);
        var results = await Task.WhenAll(slow, late);
        while ((await second.RunOnceAsync(CancellationToken.None)).Claimed > 0)
        {
        }

        results[0].Processed.Should().BeInRange(1, 4, "sends stop once half the lease is spent");
        var rows = await _host.OutboxAsync();
        _transport.Sent.Select(e => e.Id).Should().Equal(rows.Select(r => r.Id), "every row is sent exactly once, in order");
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.Attempts == 0);
    }

    [Test]
    public async Task A_send_confirmed_after_its_timeout_is_marked_then_and_not_sent_again_when_the_lease_runs_out()
    {
        await SaveOrdersAsync(count: 1, eventsEach: 1);   // one key, two rows
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _transport.Hold = gate.Task;   // a transport that does not stop when its token is cancelled
        var options = new OutboxRelayOptions { BatchSize = 100, SendTimeout = TimeSpan.FromMilliseconds(300), LeaseDuration = TimeSpan.FromSeconds(4) };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

        var claimed = System.Diagnostics.Stopwatch.StartNew();
        var timedOut = await relay.RunOnceAsync(CancellationToken.None);
        timedOut.Processed.Should().Be(0);
        timedOut.TransportUnavailable.Should().NotBeNull("a send past its timeout is an outage, not an attempt");

        // The broker confirms the first row now, after its timeout, while the claim's lease still runs.
        _transport.Hold = null;
        gate.SetResult();
        var deadline = DateTime.UtcNow.AddSeconds(2.5);
        while ((await _host.OutboxAsync()).First().Status != OutboxMessageStatus.Processed && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        (await _host.OutboxAsync()).First().Status.Should().Be(OutboxMessageStatus.Processed, "the confirmation came within the claim's lease");

        // Past the lease, nothing of the first row is left to send.
        var pastTheLease = TimeSpan.FromSeconds(4.2) - claimed.Elapsed;
        if (pastTheLease > TimeSpan.Zero)
        {
            await Task.Delay(pastTheLease);
        }

        while ((await relay.RunOnceAsync(CancellationToken.None)).Claimed > 0)
        {
        }

        var rows = await _host.OutboxAsync();
        _transport.Sent.Select(e => e.Id).Should().Equal(rows.Select(r => r.Id), "the late-confirmed row is not sent again, and the key's next row follows it");
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.Attempts == 0);
    }

    [Test]
    public async Task Keys_behind_a_deep_backlog_whose_heads_back_off_keep_flowing()
    {
        // Two keys of ten rows each come first; their heads fail and back off for an hour. With a batch of 4 the
        // claim's window (2 x batch pending rows) holds only rows of those two keys, so the later keys' heads must be
        // found past it.
        var stuck = await SaveOrdersAsync(count: 2, eventsEach: 9);
        var fresh = await SaveOrdersAsync(count: 3, eventsEach: 1);
        foreach (var row in (await _host.OutboxAsync()).Where(r => stuck.Any(o => r.PartitionKey == $"Order/{o.Id}")))
        {
            _transport.Fail[row.MessageId] = () => new InvalidOperationException("refused");
        }

        var options = new OutboxRelayOptions { BatchSize = 4, MaxAttempts = 3, RetryBaseDelay = TimeSpan.FromHours(1), RetryMaxDelay = TimeSpan.FromHours(1) };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        for (var i = 0; i < 10 && (await relay.RunOnceAsync(CancellationToken.None)).Claimed > 0; i++)
        {
        }

        var rows = await _host.OutboxAsync();
        foreach (var order in fresh)
        {
            var key = $"Order/{order.Id}";
            _transport.Sent.Where(e => e.PartitionKey == key).Select(e => e.Id).Should().Equal(rows.Where(r => r.PartitionKey == key).Select(r => r.Id), "every row of a fresh key is sent once, in order");
        }

        rows.Where(r => fresh.Any(o => r.PartitionKey == $"Order/{o.Id}")).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
        foreach (var order in stuck)
        {
            var keyRows = rows.Where(r => r.PartitionKey == $"Order/{order.Id}").ToList();
            keyRows.Should().HaveCount(10).And.OnlyContain(r => r.Status == OutboxMessageStatus.Pending);
            keyRows.Select(r => r.Attempts).Should().Equal([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], "only the head was tried, once, and it backs off");
        }
    }

    [Test]
    public async Task A_key_behind_more_blocked_keys_than_one_claim_scans_is_reached_in_turn()
    {
        // Twenty keys whose only row backs off for an hour come first, then a key that sorts after them. A batch of 4
        // looks at 4 rows, then at most 16 keys past them per claim: the fresh key is past the first scan.
        await SaveBehindTwentyBlockedKeysAsync();

        var options = new OutboxRelayOptions { BatchSize = 4 };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        for (var i = 0; i < 4 && _transport.Sent.Count < 2; i++)
        {
            await relay.RunOnceAsync(CancellationToken.None);
        }

        var rows = await _host.OutboxAsync();
        _transport.Sent.Select(e => e.Id).Should().Equal(rows.Where(r => r.PartitionKey == "Zulu/1").Select(r => r.Id), "the key behind the blocked ones is sent, in order");
        rows.Where(r => r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 1);
    }

    [Test]
    public async Task A_free_key_in_front_of_blocked_keys_is_sent_with_the_keys_found_past_them()
    {
        // A free key first, then twenty keys whose only row backs off for an hour, then a fresh key. The first claim's
        // window (4 rows) holds the free key and three blocked ones: too few rows to fill the batch, so the claim looks
        // past the window too. The free key must go out at once, with nothing leased and left unsent.
        await SaveBehindTwentyBlockedKeysAsync(first: "Alpha/1");

        var options = new OutboxRelayOptions { BatchSize = 4 };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        await relay.RunOnceAsync(CancellationToken.None);
        _transport.Sent.Select(e => e.PartitionKey).Should().Contain("Alpha/1", "the free key in the window is claimed by the first claim");
        for (var i = 0; i < 4 && _transport.Sent.Count < 3; i++)
        {
            await relay.RunOnceAsync(CancellationToken.None);
        }

        var rows = await _host.OutboxAsync();
        // Keys go out side by side: only each key's own order is fixed.
        _transport.Sent.Select(e => e.PartitionKey).Should().BeEquivalentTo(["Alpha/1", "Zulu/1", "Zulu/1"]);
        _transport.Sent.Where(e => e.PartitionKey == "Zulu/1").Select(e => e.Id).Should().BeInAscendingOrder();
        rows.Where(r => !r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
        rows.Where(r => r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 1 && r.LeaseOwner == null);
    }

    [Test]
    public async Task A_relay_whose_claims_needed_no_scan_over_keys_scans_at_once_when_blocked_keys_fill_its_window()
    {
        // A first claim with a window short of the batch needs no scan over keys, so on PostgreSQL the next claim leaves
        // that part out. Then eight keys whose only row backs off fill the window, and a fresh key sorts after them,
        // within one scan's reach: the very next claim must find it, not one after the polling interval. (SQLite's claim
        // has no window: there this holds as it always did.)
        using var relay = await RelayWhoseClaimsNeededNoScanAsync();

        await SaveBehindTwentyBlockedKeysAsync(blocked: 8);
        var first = await relay.RunOnceAsync(CancellationToken.None);

        first.Processed.Should().Be(2, "the fresh key's two rows are found past the blocked keys by the claim that was asked for");
        var rows = await _host.OutboxAsync();
        _transport.Sent.Select(e => e.Id).Should().Equal(rows.Where(r => r.PartitionKey == "Zulu/1").Select(r => r.Id), "in order");
        rows.Where(r => r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 1 && r.LeaseOwner == null);
    }

    [Test]
    public async Task A_relay_whose_claims_needed_no_scan_over_keys_sends_a_free_key_in_its_window_with_the_keys_past_it()
    {
        // As above, with a free key in front of twelve blocked ones: the claim without the scan takes it, and the rest of
        // the batch is looked for past the window by the same call, with the whole batch's reach (16 keys, the free one
        // among them), so the fresh key goes out with it.
        using var relay = await RelayWhoseClaimsNeededNoScanAsync();

        await SaveBehindTwentyBlockedKeysAsync(first: "Alpha/1", blocked: 12);
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(3, "one claim takes the free key in the window and the fresh key past it");

        // Keys go out side by side: only each key's own order is fixed.
        _transport.Sent.Select(e => e.PartitionKey).Should().BeEquivalentTo(["Alpha/1", "Zulu/1", "Zulu/1"]);
        _transport.Sent.Where(e => e.PartitionKey == "Zulu/1").Select(e => e.Id).Should().BeInAscendingOrder();
        var rows = await _host.OutboxAsync();
        rows.Where(r => !r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
    }

    [Test]
    public async Task A_poll_that_finds_nothing_to_claim_runs_no_claim_and_the_next_finds_rows_committed_elsewhere_retries_due_and_leases_run_out()
    {
        using var relay = await PollingRelayAsync();
        try
        {
            var claims = relay.ClaimsOverTable;
            await WaitUntilAsync(() => relay.PollsWithoutClaim + relay.ClaimsOverTable - claims >= 10);
            if (provider == DatabaseProvider.PostgreSql)
            {
                relay.ClaimsOverTable.Should().Be(claims, "a poll that finds nothing to claim runs no claim: it takes no lease and not the claims' turn");
            }

            // A row no commit of the relay's process handed over, as another process's would be.
            await AddAsync(Row("Other/1", attempts: 0, next: DateTime.UtcNow));
            await WaitUntilAsync(() => _transport.Sent.Count == 1);

            // A row that failed once and is due again; then one whose relay died with its lease, which has run out.
            await AddAsync(Row("Retry/1", attempts: 1, next: DateTime.UtcNow.AddSeconds(-1)));
            await WaitUntilAsync(() => _transport.Sent.Count == 2);
            var expired = Row("Crashed/1", attempts: 0, next: DateTime.UtcNow);
            expired.LeaseOwner = "crashed#1";
            expired.LeaseExpiresAt = DateTime.UtcNow.AddMinutes(-1);
            await AddAsync(expired);
            await WaitUntilAsync(() => _transport.Sent.Count == 3);
        }
        finally
        {
            // Stopping waits for the batches in flight to be recorded.
            await relay.StopAsync(CancellationToken.None);
        }

        _transport.Sent.Select(e => e.PartitionKey).Should().Equal("Other/1", "Retry/1", "Crashed/1");
        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
    }

    [Test]
    public async Task A_poll_finds_a_key_past_a_window_full_of_blocked_keys()
    {
        using var relay = await PollingRelayAsync();
        try
        {
            // Eight keys whose only row backs off for an hour fill the window of a batch of 4; the fresh key is past it.
            await SaveBehindTwentyBlockedKeysAsync(blocked: 8);
            await WaitUntilAsync(() => _transport.Sent.Count == 2);
        }
        finally
        {
            await relay.StopAsync(CancellationToken.None);
        }

        var rows = await _host.OutboxAsync();
        _transport.Sent.Select(e => e.Id).Should().Equal(rows.Where(r => r.PartitionKey == "Zulu/1").Select(r => r.Id), "in order");
        rows.Where(r => !r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.LeaseOwner == null);
        rows.Where(r => r.PartitionKey.StartsWith("Blocked/", StringComparison.Ordinal)).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending && r.Attempts == 1 && r.LeaseOwner == null);
    }

    /// <summary>Saves an outbox row as another process would: no relay of this test's is told of it.</summary>
    private Task AddAsync(OutboxMessage row) =>
        _host.InScopeAsync(async db =>
        {
            db.Set<OutboxMessage>().Add(row);
            await db.SaveChangesAsync();
        });

    /// <summary>
    /// A started relay with a batch of 4 that polls every 50 ms and is told of no commit (it has a signal of its own), once
    /// it has made the claim every relay makes when it starts and polled once since (on PostgreSQL a poll that asked first
    /// and found nothing to claim; SQLite's relay claims at every poll).
    /// </summary>
    private async Task<OutboxRelay<OrderingDbContext>> PollingRelayAsync()
    {
        var options = new OutboxRelayOptions { BatchSize = 4, PollingInterval = TimeSpan.FromMilliseconds(50) };
        var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        await relay.StartAsync(CancellationToken.None);
        await WaitUntilAsync(() => provider == DatabaseProvider.PostgreSql ? relay.PollsWithoutClaim >= 1 : relay.ClaimsOverTable >= 2);
        return relay;
    }

    /// <summary>
    /// A relay with a batch of 4 that has sent one row, with a claim whose window was short of the batch, and then found
    /// nothing: on PostgreSQL its next claim is sent without the scan over keys. What it sent is forgotten.
    /// </summary>
    private async Task<OutboxRelay<OrderingDbContext>> RelayWhoseClaimsNeededNoScanAsync()
    {
        var options = new OutboxRelayOptions { BatchSize = 4 };
        var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);
        await SaveOrdersAsync(count: 1, eventsEach: 0);
        (await relay.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);
        (await relay.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0, "nothing waits");
        _transport.Sent.Clear();
        return relay;
    }

    /// <summary>
    /// Saves a row of <paramref name="first"/> when given, then <paramref name="blocked"/> keys whose only row backs off for
    /// an hour ("Blocked/00" to "Blocked/19" by default), then two rows of "Zulu/1", which sorts after them.
    /// </summary>
    private Task SaveBehindTwentyBlockedKeysAsync(string? first = null, int blocked = 20)
    {
        var now = DateTime.UtcNow;
        return _host.InScopeAsync(async db =>
        {
            if (first is not null)
            {
                db.Set<OutboxMessage>().Add(Row(first, attempts: 0, next: now));
            }

            for (var k = 0; k < blocked; k++)
            {
                db.Set<OutboxMessage>().Add(Row($"Blocked/{k:D2}", attempts: 1, next: now.AddHours(1)));
            }

            db.Set<OutboxMessage>().AddRange(Row("Zulu/1", attempts: 0, next: now), Row("Zulu/1", attempts: 0, next: now));
            await db.SaveChangesAsync();
        });
    }

    /// <summary>A pending row of <paramref name="key"/>, with <paramref name="attempts"/> failed attempts, due at <paramref name="next"/>.</summary>
    internal static OutboxMessage Row(string key, int attempts, DateTime next) => new()
    {
        MessageId = Guid.CreateVersion7(),
        MessageType = "order.placed",
        Version = 1,
        Exchange = "ordering",
        RoutingKey = "order.placed",
        PartitionKey = key,
        Payload = "{}",
        Headers = "{}",
        OccurredAt = DateTime.UtcNow,
        Attempts = attempts,
        NextAttemptAt = next,
    };

    [Test]
    public void Back_off_grows_exponentially_with_jitter_and_stays_under_the_cap()
    {
        var options = new OutboxRelayOptions { RetryBaseDelay = TimeSpan.FromSeconds(1), RetryMaxDelay = TimeSpan.FromSeconds(60) };
        using var relay = new OutboxRelay<OrderingDbContext>(_host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), _transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

        for (var attempts = 1; attempts <= 10; attempts++)
        {
            var full = Math.Min(Math.Pow(2, attempts - 1), 60);
            var delays = Enumerable.Range(0, 50).Select(_ => relay.Backoff(attempts).TotalSeconds).ToList();
            delays.Should().OnlyContain(d => d >= full * 0.5 && d <= full);
            delays.Distinct().Count().Should().BeGreaterThan(1, "jitter spreads retries");
        }
    }

    private async Task<Order[]> SaveOrdersAsync(int count, int eventsEach)
    {
        var orders = Enumerable.Range(0, count).Select(i => Order.Place($"c{i}", i)).ToArray();
        foreach (var order in orders)
        {
            for (var e = 0; e < eventsEach; e++)
            {
                order.RaiseEvent(new OrderPlaced(order.Id, e));
            }
        }

        await _host.InScopeAsync(async db =>
        {
            db.Orders.AddRange(orders);
            await db.SaveChangesAsync();
        });
        return orders;
    }

    private static Task WaitUntilAsync(Func<bool> condition) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(10), "The condition did not hold within 10 s.");

    private sealed class ScriptedTransport : IOutboxTransport
    {
        /// <summary>How long each send takes before it is confirmed (the token cuts it short).</summary>
        public TimeSpan Delay { get; set; }

        public ConcurrentQueue<OutboxEnvelope> Sent { get; } = new();

        public ConcurrentDictionary<Guid, Func<Exception>> Fail { get; } = new();

        public bool Unavailable { get; set; }

        /// <summary>While set, sends wait for it to complete; the waiting rows are in <see cref="Held"/>.</summary>
        public Task? Hold { get; set; }

        public ConcurrentQueue<OutboxEnvelope> Held { get; } = new();

        public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            if (Hold is { } hold)
            {
                Held.Enqueue(envelope);
                await hold;
            }

            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, cancellationToken);
            }

            if (Unavailable)
            {
                throw new TransportUnavailableException("broker down");
            }

            if (Fail.TryGetValue(envelope.MessageId, out var error))
            {
                throw error();
            }

            Sent.Enqueue(envelope);
        }
    }
}
