using DomainEvents.Dispatching;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// Handlers subscribed by group pattern receive every event whose group matches, whatever its type, in the unit of work,
/// and a keyed event reaches them once ever per key.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class HandlingEventsByGroup(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider, events: e => e
        .AddEventSource<Challenge>(c => c.EndsAt <= DateTime.UtcNow ? [new ChallengeSaved(c.Id), new ChallengeEnded(c.Id)] : [new ChallengeSaved(c.Id)])
        .AddGroupHandler<ChallengeFeed>("challenge.*")
        .AddGroupHandler<BillingFeed>("billing.#")
        .AddGroupHandler<BillingFeed>("*.ended"));

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task Events_whose_group_matches_reach_the_group_handler_in_the_unit_of_work_and_a_keyed_one_once()
    {
        var challenge = new Challenge { Title = "Run 5 km", EndsAt = DateTime.UtcNow.AddMinutes(-1) };
        var order = Order.Place("ada", 1m);
        order.RaiseEvent(new InvoiceOverdue(order.Id));
        await _host.InScopeAsync(async db =>
        {
            db.Challenges.Add(challenge);
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });
        await _host.InScopeAsync(async db =>
        {
            (await db.Challenges.SingleAsync()).Title = "Run 6 km";
            await db.SaveChangesAsync();
        });

        _host.Log.Of("challenge-feed:").Should().Equal(
            $"challenge-feed:challenge.saved:{new ChallengeSaved(challenge.Id)}",
            $"challenge-feed:challenge.ended:{new ChallengeEnded(challenge.Id)}",
            $"challenge-feed:challenge.saved:{new ChallengeSaved(challenge.Id)}");
        _host.Log.Of("billing-feed:").Should().Equal(
            $"billing-feed:billing.invoice.overdue:{new InvoiceOverdue(order.Id)}",
            $"billing-feed:challenge.ended:{new ChallengeEnded(challenge.Id)}");
        (await _host.InScopeAsync(db => db.AuditEntries.Where(a => a.Text.StartsWith("feed ")).CountAsync()))
            .Should().Be(5, "each handling wrote its effect in the save's transaction");
    }

    [Test]
    public async Task A_failing_group_handler_fails_the_save_and_commits_nothing()
    {
        _host.Log.FailuresToInject = 1;
        var challenge = new Challenge { Title = "Run 5 km", EndsAt = DateTime.UtcNow.AddDays(1) };

        var save = () => _host.InScopeAsync(async db =>
        {
            db.Challenges.Add(challenge);
            await db.SaveChangesAsync();
        });

        await save.Should().ThrowAsync<InvalidOperationException>().WithMessage("*challenge feed failed*");
        (await _host.InScopeAsync(db => db.Challenges.CountAsync())).Should().Be(0);
        (await _host.InScopeAsync(db => db.AuditEntries.CountAsync())).Should().Be(0);
    }

    private sealed class ChallengeFeed(HandlerLog log, OrderingDbContext db) : IDomainEventGroupHandler
    {
        public Task HandleAsync(IDomainEvent domainEvent, string group, CancellationToken cancellationToken)
        {
            if (log.FailuresToInject > 0)
            {
                log.FailuresToInject--;
                throw new InvalidOperationException("The challenge feed failed.");
            }

            log.Record($"challenge-feed:{group}:{domainEvent}");
            db.AuditEntries.Add(new AuditEntry { Text = $"feed {group}" });
            return Task.CompletedTask;
        }
    }

    private sealed class BillingFeed(HandlerLog log, OrderingDbContext db) : IDomainEventGroupHandler
    {
        public Task HandleAsync(IDomainEvent domainEvent, string group, CancellationToken cancellationToken)
        {
            log.Record($"billing-feed:{group}:{domainEvent}");
            db.AuditEntries.Add(new AuditEntry { Text = $"feed {group}" });
            return Task.CompletedTask;
        }
    }
}
