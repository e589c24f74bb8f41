using DomainEvents.EntityFrameworkCore.Backfill;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A backfill runs the event sources over every stored entity, page by page, each page in its own transaction with its
/// checkpoint: keys already handled are skipped, a cancelled run continues where it stopped, and one run at a time holds it.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class BackfillingEventSources(DatabaseProvider provider)
{
    private const int Challenges = 230;
    private const int Ended = 115;
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider, events: e => e
        .AddEventSource<Challenge>(c => c.EndsAt <= DateTime.UtcNow ? [new ChallengeSaved(c.Id), new ChallengeEnded(c.Id)] : [new ChallengeSaved(c.Id)])
        .AddEventSource<Coupon>(c => [new CouponSeen(c.Code)]));

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task A_backfill_yields_the_events_of_entities_whose_time_has_come_once_and_a_second_run_handles_no_key_again()
    {
        await StoreChallengesAsync();
        var reports = new List<BackfillProgress>();

        var first = await Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 50 }, new SynchronousProgress(reports.Add));

        first.Should().BeEquivalentTo(new { Name = "Challenge", EntitiesRead = Challenges, EventsProduced = Challenges + Ended, KeysSkipped = 0, EntitiesTotal = Challenges, Completed = true });
        reports.Select(r => r.EntitiesRead).Should().Equal(50, 100, 150, 200, 230, 230);
        reports.Should().OnlyContain(r => r.EntitiesTotal == Challenges);
        reports[0].EstimatedRemaining.Should().NotBeNull();
        _host.Log.Of("keyed:ChallengeEnded").Should().HaveCount(Ended).And.OnlyHaveUniqueItems();
        (await _host.OutboxAsync()).Count(r => r.MessageType == "challenge.ended").Should().Be(Ended, "each ended challenge's integration event is written once");
        (await _host.InScopeAsync(db => db.Set<HandledEventKey>().CountAsync())).Should().Be(Ended);

        var second = await Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 50 });

        second.Should().BeEquivalentTo(new { EntitiesRead = Challenges, EventsProduced = Challenges + Ended, KeysSkipped = Ended, EventsDispatched = Challenges, Completed = true },
            "the second pass starts again from the first entity and every key is handled");
        _host.Log.Of("keyed:ChallengeEnded").Should().HaveCount(Ended, "no key is handled twice");
        _host.Log.Of("keyed:ChallengeSaved").Should().HaveCount(2 * Challenges, "an event without a key is dispatched on every pass");
        (await _host.OutboxAsync()).Count(r => r.MessageType == "challenge.ended").Should().Be(Ended);
    }

    [Test]
    public async Task A_cancelled_backfill_keeps_its_committed_pages_and_a_resumed_run_continues_after_them()
    {
        await StoreChallengesAsync();
        using var cancel = new CancellationTokenSource();
        var run = () => Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 40 }, new SynchronousProgress(p =>
        {
            if (p.EntitiesRead >= 80)
            {
                cancel.Cancel();
            }
        }), cancel.Token);

        await run.Should().ThrowAsync<OperationCanceledException>();
        var checkpoint = await _host.InScopeAsync(db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleAsync());
        checkpoint.Should().BeEquivalentTo(new { Name = "Challenge", EntitiesRead = 80, Owner = (string?)null, CompletedAt = (DateTime?)null }, "two pages committed, and the lease released");
        _host.Log.Of("keyed:ChallengeSaved").Should().HaveCount(80);

        var resumed = await Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 40, Resume = true });

        resumed.Should().BeEquivalentTo(new { EntitiesRead = Challenges, EventsProduced = Challenges + Ended, KeysSkipped = 0, Completed = true });
        _host.Log.Of("keyed:ChallengeSaved").Should().HaveCount(Challenges, "the resumed run read only the entities after the checkpoint");
        _host.Log.Of("keyed:ChallengeEnded").Should().HaveCount(Ended).And.OnlyHaveUniqueItems();
    }

    [Test]
    public async Task A_second_run_is_refused_while_one_holds_the_backfill_and_a_run_whose_lease_ran_out_commits_nothing_more()
    {
        await StoreChallengesAsync();
        using var paused = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        var holder = Task.Run(() => Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 50, LeaseDuration = TimeSpan.FromSeconds(2) }, new SynchronousProgress(p =>
        {
            if (p.EntitiesRead == 50)
            {
                paused.Set();
                resume.Wait(TimeSpan.FromSeconds(30));
            }
        })));
        paused.Wait(TimeSpan.FromSeconds(30)).Should().BeTrue();

        var refused = () => Backfill().RunAsync<Challenge>(new BackfillOptions { Resume = true });
        (await refused.Should().ThrowAsync<BackfillAlreadyRunningException>()).Which.Name.Should().Be("Challenge");

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var takeover = await Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 50, Resume = true });
        takeover.Should().BeEquivalentTo(new { EntitiesRead = Challenges, Completed = true }, "after the lease ran out the backfill was taken over from its checkpoint");

        resume.Set();
        await holder.Awaiting(h => h).Should().ThrowAsync<BackfillAlreadyRunningException>("the first run lost the backfill and commits no further page");
        _host.Log.Of("keyed:ChallengeEnded").Should().HaveCount(Ended).And.OnlyHaveUniqueItems();
        _host.Log.Of("keyed:ChallengeSaved").Should().HaveCount(Challenges, "each entity was read by one of the runs");
    }

    [Test]
    public async Task An_entity_type_without_a_source_is_refused_with_the_reason()
    {
        var run = () => Backfill().RunAsync<AuditEntry>();

        (await run.Should().ThrowAsync<BackfillNotPossibleException>()).Which.Message.Should().Contain("no event source is registered for it");
        (await _host.InScopeAsync(db => db.Set<EventSourceCheckpoint>().CountAsync())).Should().Be(0, "nothing was written");
    }

    [Test]
    public async Task A_sweep_yields_a_time_based_event_once_its_time_comes_without_a_save_of_the_entity()
    {
        await using var host = await TestHost.StartAsync(provider, events: e => e
            .AddEventSource<Challenge>(c => c.EndsAt <= DateTime.UtcNow ? [new ChallengeEnded(c.Id)] : [])
            .AddEventSourceSweep<OrderingDbContext, Challenge>(TimeSpan.FromMilliseconds(200)));
        var challenge = new Challenge { Title = "Run 5 km", EndsAt = DateTime.UtcNow.AddSeconds(1.5) };
        await host.InScopeAsync(async db =>
        {
            db.Challenges.Add(challenge);
            await db.SaveChangesAsync();
        });
        host.Log.Of("keyed:ChallengeEnded").Should().BeEmpty("it has not ended yet");

        var sweeps = host.Services.GetServices<IHostedService>().ToList();
        foreach (var sweep in sweeps)
        {
            await sweep.StartAsync(CancellationToken.None);
        }

        try
        {
            var until = DateTime.UtcNow.AddSeconds(15);
            while (host.Log.Of("keyed:ChallengeEnded").Count == 0 && DateTime.UtcNow < until)
            {
                await Task.Delay(50);
            }

            await Task.Delay(TimeSpan.FromSeconds(1));   // several more sweeps
        }
        finally
        {
            foreach (var sweep in sweeps)
            {
                await sweep.StopAsync(CancellationToken.None);
            }
        }

        host.Log.Of("keyed:ChallengeEnded").Should().Equal($"keyed:{new ChallengeEnded(challenge.Id)}");
        (await host.OutboxAsync()).Should().ContainSingle(r => r.MessageType == "challenge.ended");
        (await host.InScopeAsync(db => db.Set<HandledEventKey>().CountAsync())).Should().Be(1, "the later sweeps found the key handled");
    }

    [Test]
    public async Task A_backfill_on_a_context_that_does_not_track_queries_still_runs_the_sources()
    {
        await using var host = await TestHost.StartAsync(provider, configureContext: o => o.UseQueryTrackingBehavior(QueryTrackingBehavior.NoTracking), events: e => e
            .AddEventSource<Challenge>(c => c.EndsAt <= DateTime.UtcNow ? [new ChallengeEnded(c.Id)] : []));
        await host.InScopeAsync(async db =>
        {
            db.Challenges.Add(new Challenge { Title = "Run 5 km", EndsAt = DateTime.UtcNow.AddDays(1) });
            await db.SaveChangesAsync();
            await db.Challenges.ExecuteUpdateAsync(s => s.SetProperty(c => c.EndsAt, DateTime.UtcNow.AddDays(-1)));
        });

        var result = await host.Services.GetRequiredService<IEventSourceBackfill<OrderingDbContext>>().RunAsync<Challenge>();

        result.EventsProduced.Should().Be(1, "the page's entities are tracked whatever the context's default");
        host.Log.Of("keyed:ChallengeEnded").Should().ContainSingle();
    }

    [Test]
    public async Task A_backfill_that_fails_releases_it_at_once_and_a_resumed_run_continues()
    {
        await using var host = await TestHost.StartAsync(provider, events: e => e
            .AddEventSource<Challenge>(c => c.EndsAt <= DateTime.UtcNow ? [new ChallengeEnded(c.Id)] : [])
            .AddGroupHandler<FailingOnce>("challenge.ended"));
        await host.InScopeAsync(async db =>
        {
            db.Challenges.AddRange(Enumerable.Range(0, 30).Select(i => new Challenge { Title = $"c{i}", EndsAt = DateTime.UtcNow.AddDays(1) }));
            await db.SaveChangesAsync();
            await db.Challenges.ExecuteUpdateAsync(s => s.SetProperty(c => c.EndsAt, DateTime.UtcNow.AddDays(-1)));
        });
        host.Log.FailuresToInject = 1;
        var backfill = host.Services.GetRequiredService<IEventSourceBackfill<OrderingDbContext>>();

        var failing = () => backfill.RunAsync<Challenge>(new BackfillOptions { PageSize = 10 });
        await failing.Should().ThrowAsync<InvalidOperationException>().WithMessage("*injected*");
        var resumed = await backfill.RunAsync<Challenge>(new BackfillOptions { PageSize = 10, Resume = true });

        resumed.Should().BeEquivalentTo(new { EntitiesRead = 30, EventsProduced = 30, KeysSkipped = 0, Completed = true }, "the failed page committed nothing, and the lease did not have to run out");
        (await host.OutboxAsync()).Count(r => r.MessageType == "challenge.ended").Should().Be(30, "each key's event is written once, by the committed pages");
        (await host.InScopeAsync(db => db.Set<HandledEventKey>().CountAsync())).Should().Be(30);
    }

    [Test]
    public async Task A_write_to_an_entity_of_a_page_waits_for_the_page_so_the_page_never_acts_on_a_state_replaced_before_its_commit()
    {
        var writer = new WriterDuringThePage();
        await _host.DisposeAsync();
        _host = await TestHost.StartAsync(provider, configureContext: o => o.AddInterceptors(writer), events: e => e.AddEventSource<Challenge>(c =>
            c.EndsAt <= DateTime.UtcNow ? [new ChallengeSaved(c.Id), new ChallengeEnded(c.Id)] : [new ChallengeSaved(c.Id)]));

        // One challenge that has ended since it was saved: the backfill's page finds it ended.
        var challenge = new Challenge { Title = "ended", EndsAt = DateTime.UtcNow.AddDays(1) };
        await _host.InScopeAsync(async db =>
        {
            db.Challenges.Add(challenge);
            await db.SaveChangesAsync();
            await db.Challenges.ExecuteUpdateAsync(s => s.SetProperty(c => c.EndsAt, DateTime.UtcNow.AddDays(-1)));
        });

        // As the page has read it, its organiser moves the end a week on, from another connection.
        writer.Arm(() => _host.InScopeAsync(db => db.Challenges.ExecuteUpdateAsync(s => s.SetProperty(c => c.EndsAt, DateTime.UtcNow.AddDays(7)))));
        await Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 50 });
        await writer.Done.WaitAsync(TimeSpan.FromSeconds(30));

        writer.DoneBeforeThePageSaved.Should().BeFalse("the write waits until the page that read the challenge commits");
        (await _host.OutboxAsync()).Count(r => r.MessageType == "challenge.ended").Should().Be(1, "the page committed first, on the state it read");
        (await _host.InScopeAsync(db => db.Challenges.AsNoTracking().SingleAsync())).EndsAt.Should().BeAfter(DateTime.UtcNow.AddDays(6), "the write is done after it");
    }

    [Test]
    public async Task Rows_the_query_filter_leaves_out_are_not_read_and_do_not_end_the_pass()
    {
        // 120 ended challenges; the 60 with the lowest keys archived, which the context's query filter leaves out: more
        // than a page of them comes first.
        await _host.InScopeAsync(async db =>
        {
            var now = DateTime.UtcNow;
            db.Challenges.AddRange(Enumerable.Range(0, 120).Select(i => new Challenge { Title = $"challenge {i}", EndsAt = now.AddDays(1) }));
            await db.SaveChangesAsync();
            var first = await db.Challenges.OrderBy(c => c.Id).Take(60).Select(c => c.Id).ToListAsync();
            await db.Challenges.ExecuteUpdateAsync(s => s.SetProperty(c => c.EndsAt, now.AddDays(-1)));
            await db.Challenges.Where(c => first.Contains(c.Id)).ExecuteUpdateAsync(s => s.SetProperty(c => c.Archived, true));
            _host.Log.Calls.Clear();
            await db.Set<HandledEventKey>().ExecuteDeleteAsync();
            await db.Set<Outbox.OutboxMessage>().ExecuteDeleteAsync();
        });

        var run = await Backfill().RunAsync<Challenge>(new BackfillOptions { PageSize = 50 });

        run.Should().BeEquivalentTo(new { EntitiesRead = 60, Completed = true }, "the pass goes past the archived challenges to the end");
        (await _host.OutboxAsync()).Count(r => r.MessageType == "challenge.ended").Should().Be(60, "only the challenges the filter lets through are read");
    }

    /// <summary>Once the backfill's page has read its challenges, starts a write to them and gives it three seconds to finish.</summary>
    private sealed class WriterDuringThePage : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor, Microsoft.EntityFrameworkCore.Diagnostics.ISaveChangesInterceptor
    {
        private Func<Task<int>>? _write;
        private Task? _started;

        public Task Done => _started ?? Task.CompletedTask;

        public bool? DoneBeforeThePageSaved { get; private set; }

        public void Arm(Func<Task<int>> write) => _write = write;

        public override async ValueTask<System.Data.Common.DbDataReader> ReaderExecutedAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, System.Data.Common.DbDataReader result, CancellationToken cancellationToken = default)
        {
            // The page's read of the entities (not the count, not the lock of their keys).
            if (_write is { } write && _started is null && command.CommandText.Contains("\"EndsAt\"", StringComparison.Ordinal)
                && !command.CommandText.Contains("FOR SHARE", StringComparison.Ordinal) && !command.CommandText.Contains("UPDATE", StringComparison.Ordinal))
            {
                _started = Task.Run(write);
                await Task.WhenAny(_started, Task.Delay(TimeSpan.FromSeconds(3), cancellationToken));
            }

            return result;
        }

        public ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> SavingChangesAsync(Microsoft.EntityFrameworkCore.Diagnostics.DbContextEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            if (_started is not null && DoneBeforeThePageSaved is null)
            {
                DoneBeforeThePageSaved = _started.IsCompleted;
            }

            return ValueTask.FromResult(result);
        }
    }

    [Test]
    public async Task Entities_keyed_by_long_texts_in_any_script_are_backfilled_to_the_end_and_a_key_the_checkpoint_cannot_hold_is_refused_before_its_page_commits()
    {
        // 300 Cyrillic letters: 300 characters of a checkpoint, where each would have been a six-character escape.
        var codes = Enumerable.Range(0, 7).Select(i => $"{i}-" + new string('Ж', 300)).ToList();
        await _host.InScopeAsync(async db =>
        {
            db.Coupons.AddRange(codes.Select(c => new Coupon { Code = c }));
            return await db.SaveChangesAsync();
        });

        var run = await Backfill().RunAsync<Coupon>(new BackfillOptions { PageSize = 3 });

        run.Should().BeEquivalentTo(new { EntitiesRead = 7, EventsProduced = 7, Completed = true });
        var checkpoint = await _host.InScopeAsync(db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleAsync(c => c.Name == "Coupon"));
        checkpoint.Position.Should().Be($"\"{codes[^1]}\"", "the last page's key is kept as it is");

        // Longer than the checkpoint's column holds (1,000 characters): PostgreSQL would refuse the page's commit every time,
        // so the run says why first and the page's work is not committed. SQLite holds no column to its length.
        var tooLong = "z-" + new string('x', 1200);
        await _host.InScopeAsync(async db =>
        {
            db.Coupons.Add(new Coupon { Code = tooLong });
            return await db.SaveChangesAsync();
        });
        var again = () => Backfill().RunAsync<Coupon>(new BackfillOptions { PageSize = 10 });

        if (provider == DatabaseProvider.Sqlite)
        {
            (await again()).Should().BeEquivalentTo(new { EntitiesRead = 8, Completed = true });
            return;
        }

        (await again.Should().ThrowAsync<BackfillNotPossibleException>()).WithMessage("*is 1204 characters as JSON*at most 1000*");
        var after = await _host.InScopeAsync(db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleAsync(c => c.Name == "Coupon"));
        after.Position.Should().NotContain("z-", "the refused page committed nothing");
        after.Owner.Should().BeNull("the refused run gave the backfill back");
    }

    private IEventSourceBackfill<OrderingDbContext> Backfill() => _host.Services.GetRequiredService<IEventSourceBackfill<OrderingDbContext>>();

    /// <summary>Stores challenges, half of them ended, without running their sources (as if stored before the source existed).</summary>
    private Task StoreChallengesAsync() =>
        _host.InScopeAsync(async db =>
        {
            var now = DateTime.UtcNow;
            var challenges = Enumerable.Range(0, Challenges)
                .Select(i => new Challenge { Title = $"challenge {i}", EndsAt = i % 2 == 0 ? now.AddDays(-1) : now.AddDays(1) })
                .ToList();
            db.Challenges.AddRange(challenges);
            await db.SaveChangesAsync();
            _host.Log.Calls.Clear();
            await db.Set<HandledEventKey>().ExecuteDeleteAsync();
            await db.Set<Outbox.OutboxMessage>().ExecuteDeleteAsync();
        });

    private sealed class FailingOnce(HandlerLog log) : DomainEvents.Dispatching.IDomainEventGroupHandler
    {
        public Task HandleAsync(IDomainEvent domainEvent, string group, CancellationToken cancellationToken)
        {
            if (log.FailuresToInject > 0)
            {
                log.FailuresToInject--;
                throw new InvalidOperationException("A failure injected by the test.");
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<BackfillProgress> report) : IProgress<BackfillProgress>
    {
        public void Report(BackfillProgress value) => report(value);
    }
}
