using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Errors;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A keyed event is dispatched once ever per key: the save that first raises it records the key with its effects, and
/// later raises, by an aggregate or by an event source that sees the same state again, are skipped.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class HandlingKeyedEventsOnce(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider, events: e => e.AddEventSource<Challenge>(c =>
        c.EndsAt <= DateTime.UtcNow ? [new ChallengeSaved(c.Id), new ChallengeEnded(c.Id)] : [new ChallengeSaved(c.Id)]));

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task A_key_raised_by_two_saves_and_twice_in_one_save_is_handled_once()
    {
        var order = Order.Place("ada", 1m);
        order.RaiseEvent(new OrderMilestone(order.Id, "first"));
        order.RaiseEvent(new OrderMilestone(order.Id, "first"));
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });
        await _host.InScopeAsync(async db =>
        {
            var saved = await db.Orders.SingleAsync();
            saved.RaiseEvent(new OrderMilestone(order.Id, "first"));
            saved.RaiseEvent(new OrderMilestone(order.Id, "second"));
            await db.SaveChangesAsync();
            saved.DomainEvents.Should().BeEmpty("a skipped event leaves its aggregate like a dispatched one");
        });

        _host.Log.Of("keyed:").Should().Equal($"keyed:{new OrderMilestone(order.Id, "first")}", $"keyed:{new OrderMilestone(order.Id, "second")}");
        (await _host.InScopeAsync(db => db.Set<HandledEventKey>().Select(k => k.Key).OrderBy(k => k).ToListAsync()))
            .Should().Equal($"milestone:{order.Id}:first", $"milestone:{order.Id}:second");
    }

    [Test]
    public async Task An_event_source_that_sees_the_same_state_on_every_save_has_its_keyed_event_handled_once()
    {
        var challenge = new Challenge { Title = "Run 5 km", EndsAt = DateTime.UtcNow.AddDays(1) };
        await SaveChallengeAsync(c => challenge = c, challenge);
        await SaveChallengeAsync(c => c.EndsAt = DateTime.UtcNow.AddMinutes(-1));
        await SaveChallengeAsync(c => c.Title = "Run 6 km");
        await SaveChallengeAsync(c => c.Title = "Run 7 km");

        _host.Log.Of("keyed:ChallengeSaved").Should().HaveCount(4, "an event without a key is handled on every save");
        _host.Log.Of("keyed:ChallengeEnded").Should().HaveCount(1, "the key is handled once, however often the source yields it");
        var rows = (await _host.OutboxAsync()).Where(r => r.MessageType == "challenge.ended").ToList();
        rows.Should().ContainSingle().Which.PartitionKey.Should().Be($"Challenge/{challenge.Id}", "the source's entity gives the routing an aggregate would");
        rows[0].Exchange.Should().Be("challenge");
    }

    [Test]
    public async Task A_source_sees_an_entity_a_handler_added_in_the_same_save()
    {
        var order = Order.Place("ada", 1m);
        order.RaiseEvent(new OrderMilestone(order.Id, RecordOrderMilestone.StartEndedChallenge));
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        _host.Log.Of("keyed:ChallengeEnded").Should().Equal($"keyed:{new ChallengeEnded(order.Id)}");
        (await _host.OutboxAsync()).Should().ContainSingle(r => r.MessageType == "challenge.ended");
    }

    [Test]
    public async Task A_key_taken_by_a_save_whose_transaction_was_rolled_back_is_taken_again()
    {
        var milestone = new OrderMilestone(Guid.CreateVersion7(), "rolled back");
        await _host.InScopeAsync(async db =>
        {
            await using (var transaction = await db.Database.BeginTransactionAsync())
            {
                var first = Order.Place("ada", 1m);
                first.RaiseEvent(milestone);
                db.Orders.Add(first);
                await db.SaveChangesAsync();
                await transaction.RollbackAsync();
            }

            // The same context goes on, as code that goes on after a rollback must: without the entities the rolled-back
            // save gave database-generated keys. Its ledger row from that save is still tracked, but not in the table.
            foreach (var entry in db.ChangeTracker.Entries().Where(e => e.Entity is not HandledEventKey).ToList())
            {
                entry.State = EntityState.Detached;
            }

            var second = Order.Place("ada", 2m);
            second.RaiseEvent(milestone);
            db.Orders.Add(second);
            await db.SaveChangesAsync();
        });

        _host.Log.Of("keyed:").Should().Equal($"keyed:{milestone}", $"keyed:{milestone}");
        (await _host.InScopeAsync(db => db.Set<HandledEventKey>().CountAsync())).Should().Be(1, "the committed save holds the key");
    }

    [Test]
    public async Task A_bad_key_fails_the_save_and_commits_nothing()
    {
        var order = Order.Place("ada", 1m);
        order.RaiseEvent(new BadlyKeyed(" "));

        var save = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        (await save.Should().ThrowAsync<InvalidEventKeyException>()).Which.EventType.Should().Be(typeof(BadlyKeyed));
        (await _host.OrderCountAsync()).Should().Be(0);
        (await _host.OutboxAsync()).Should().BeEmpty();
    }

    private Task SaveChallengeAsync(Action<Challenge> change, Challenge? added = null) =>
        _host.InScopeAsync(async db =>
        {
            if (added is not null)
            {
                db.Challenges.Add(added);
            }
            else
            {
                change(await db.Challenges.SingleAsync());
            }

            await db.SaveChangesAsync();
        });
}
