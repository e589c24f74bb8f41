using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>Saves that raise one key at once on PostgreSQL: the ledger's key decides, and one of them commits it.</summary>
[Category("Integration")]
public sealed class ClaimingAKeyConcurrently
{
    [Test]
    public async Task Of_eight_saves_raising_one_key_at_once_exactly_one_commits_it()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        using var start = new Barrier(8);
        var saves = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
            var order = Order.Place($"customer {i}", 1m);
            order.RaiseEvent(new PromotionClaimed("WELCOME", order.Id));
            db.Orders.Add(order);
            start.SignalAndWait(TimeSpan.FromSeconds(10));
            await db.SaveChangesAsync();
        })).ToList();

        var outcomes = await Task.WhenAll(saves.Select(async s =>
        {
            try
            {
                await s;
                return "committed";
            }
            catch (DbUpdateException)
            {
                return "refused by the ledger";
            }
        }));

        // Each save sees no key in the table before the others commit; the first to commit takes it and the others fail
        // on the key, rolling back their orders too, to be retried in a new unit of work (which then skips the key).
        var committed = outcomes.Count(o => o == "committed");
        (await host.InScopeAsync(db => db.Set<HandledEventKey>().CountAsync())).Should().Be(1);
        (await host.OutboxAsync()).Where(r => r.MessageType == "promotion.claimed").Should().ContainSingle("the event reached the outbox once");
        (await host.OrderCountAsync()).Should().Be(committed);
        committed.Should().BeGreaterThanOrEqualTo(1);
        outcomes.Should().OnlyContain(o => o == "committed" || o == "refused by the ledger");

        // A refused save retried in a new unit of work commits, and skips the key.
        await host.InScopeAsync(async db =>
        {
            var order = Order.Place("late", 1m);
            order.RaiseEvent(new PromotionClaimed("WELCOME", order.Id));
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });
        (await host.OutboxAsync()).Where(r => r.MessageType == "promotion.claimed").Should().ContainSingle();
    }
}
