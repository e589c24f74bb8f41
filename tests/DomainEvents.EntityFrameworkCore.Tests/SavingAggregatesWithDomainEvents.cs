using DomainEvents.EntityFrameworkCore.Interception;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Errors;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests;

[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class SavingAggregatesWithDomainEvents(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider, o => o.MaxCascadeDepth = 4);

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task SaveChangesAsync_runs_each_handler_once_per_event_and_saves_handler_changes_with_the_aggregate()
    {
        var order = Order.Place("ada", 42m);
        order.AddNote("gift wrap");

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        _host.Log.Of("audit:").Should().Equal($"audit:{order.Id}");
        _host.Log.Of("count:").Should().Equal($"count:{order.Id}");
        _host.Log.Of("note:").Should().Equal("note:gift wrap");
        order.DomainEvents.Should().BeEmpty("dispatched events leave the aggregate once committed");
        (await _host.InScopeAsync(db => db.AuditEntries.Select(a => a.Text).ToListAsync()))
            .Should().Equal($"placed {order.Id}");
    }

    [Test]
    public async Task Events_raised_by_handlers_are_dispatched_in_the_same_save()
    {
        var order = Order.Place("ada", 10m);
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        await _host.InScopeAsync(async db =>
        {
            var loaded = await db.Orders.SingleAsync(o => o.Id == order.Id);
            loaded.Pay();
            await db.SaveChangesAsync();
            loaded.DomainEvents.Should().BeEmpty();
        });

        _host.Log.Calls.Should().ContainInOrder($"paid:{order.Id}", $"shipped:{order.Id}");
        (await _host.InScopeAsync(db => db.Orders.Select(o => o.Status).SingleAsync())).Should().Be("shipped");
        (await _host.OutboxAsync()).Select(m => m.MessageType).Should().Equal("order.placed", "order.shipped");
    }

    [Test]
    public async Task A_cascade_past_the_depth_limit_throws_and_saves_nothing()
    {
        var order = Order.Place("ada", 1m);
        order.RaiseEvent(new Ping(order.Id, 1));

        var act = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        var error = (await act.Should().ThrowAsync<DomainEventCascadeDepthExceededException>()).Which;
        error.MaxDepth.Should().Be(4);
        error.PendingEventTypes.Should().ContainSingle().Which.Should().Be<Ping>();
        _host.Log.Of("p").Should().Equal("ping:1", "pong:2", "ping:3", "pong:4");
        (await _host.OrderCountAsync()).Should().Be(0);
        (await _host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task A_throwing_handler_commits_nothing_and_leaves_the_events_on_the_aggregate()
    {
        _host.Log.FailuresToInject = 1;
        var order = Order.Place("ada", 5m);

        var act = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("injected handler failure");
        (await _host.OrderCountAsync()).Should().Be(0);
        (await _host.OutboxAsync()).Should().BeEmpty();
        (await _host.InScopeAsync(db => db.AuditEntries.CountAsync())).Should().Be(0);
        order.DomainEvents.Should().ContainSingle().Which.Should().BeOfType<OrderPlaced>();
    }

    [Test]
    public async Task Retrying_after_a_throwing_handler_dispatches_and_stores_the_event_once()
    {
        _host.Log.FailuresToInject = 1;
        var order = Order.Place("ada", 5m);

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            var first = () => db.SaveChangesAsync();
            await first.Should().ThrowAsync<InvalidOperationException>();
            await db.SaveChangesAsync();
        });

        (await _host.OutboxAsync()).Should().ContainSingle().Which.MessageType.Should().Be("order.placed");
        (await _host.OrderCountAsync()).Should().Be(1);
        order.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public async Task Retrying_after_a_failed_database_save_does_not_dispatch_again()
    {
        var order = Order.Place("ada", 5m);
        order.AddNote("again");
        await _host.InScopeAsync(async db =>
        {
            var conflicting = await FailSaveAfterDispatchAsync(db, order);
            order.DomainEvents.Should().HaveCount(2, "nothing was committed");

            db.Entry(conflicting).State = EntityState.Detached;
            await db.SaveChangesAsync();
        });

        _host.Log.Of("note:").Should().Equal("note:again");
        _host.Log.Of("audit:").Should().Equal($"audit:{order.Id}");
        _host.Log.Of("count:").Should().Equal($"count:{order.Id}");
        (await _host.OutboxAsync()).Should().ContainSingle().Which.PartitionKey.Should().Be($"Order/{order.Id}");
        (await _host.InScopeAsync(db => db.AuditEntries.CountAsync())).Should().Be(2);
        order.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public async Task Retrying_with_the_same_aggregate_after_clearing_the_change_tracker_dispatches_and_stores_its_events_again()
    {
        var order = Order.Place("ada", 5m);
        await _host.InScopeAsync(async db =>
        {
            await FailSaveAfterDispatchAsync(db, order);

            // Everything the failed attempt tracked is dropped, the handlers' changes and the outbox row with it.
            db.ChangeTracker.Clear();
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        (await _host.OutboxAsync()).Should().ContainSingle("the order was committed, so its event was too").Which.PartitionKey.Should().Be($"Order/{order.Id}");
        (await _host.InScopeAsync(db => db.AuditEntries.Select(a => a.Text).ToListAsync())).Should().BeEquivalentTo(["taken", $"placed {order.Id}"],
            "the handler's change, dropped with the first attempt, was made again");
        order.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public async Task Synchronous_SaveChanges_with_waiting_events_is_refused_and_saves_nothing()
    {
        var order = Order.Place("ada", 5m);
        await _host.InScopeAsync(db =>
        {
            db.Orders.Add(order);
            var act = () => db.SaveChanges();
            act.Should().Throw<SynchronousSaveNotSupportedException>().WithMessage("*SaveChangesAsync()*").Which.EventCount.Should().Be(1);
            return Task.CompletedTask;
        });

        (await _host.OrderCountAsync()).Should().Be(0);
        order.DomainEvents.Should().ContainSingle();
        _host.Log.Calls.Should().BeEmpty();
    }

    [Test]
    public async Task Synchronous_SaveChanges_without_events_saves()
    {
        var order = Order.Place("ada", 5m);
        order.ClearDomainEvents();
        await _host.InScopeAsync(db =>
        {
            db.Orders.Add(order);
            db.SaveChanges();
            return Task.CompletedTask;
        });

        (await _host.OrderCountAsync()).Should().Be(1);
    }

    [Test]
    public async Task Events_are_dispatched_inside_an_explicit_transaction_and_commit_with_it()
    {
        var order = Order.Place("ada", 5m);
        var committed = Order.Place("bob", 6m);
        await _host.InScopeAsync(async db =>
        {
            await using (var transaction = await db.Database.BeginTransactionAsync())
            {
                db.Orders.Add(order);
                await db.SaveChangesAsync();
                _host.Log.Of("audit:").Should().ContainSingle();
                _host.Log.Of("after-commit:").Should().BeEmpty("the transaction has not committed yet");
                await transaction.RollbackAsync();
            }

            db.ChangeTracker.Clear();
            await using (var transaction = await db.Database.BeginTransactionAsync())
            {
                db.Orders.Add(committed);
                await db.SaveChangesAsync();
                await transaction.CommitAsync();
            }
        });

        _host.Log.Of("after-commit:").Should().Equal($"after-commit:{committed.Id}");
        (await _host.InScopeAsync(db => db.Orders.Select(o => o.Id).ToListAsync())).Should().Equal(committed.Id);
        (await _host.OutboxAsync()).Should().ContainSingle().Which.PartitionKey.Should().Be($"Order/{committed.Id}");
    }

    [Test]
    public async Task A_save_rolled_back_to_a_savepoint_runs_no_after_commit_handler_and_one_released_does()
    {
        var kept = Order.Place("ada", 5m);
        var undone = Order.Place("bob", 6m);
        var released = Order.Place("cy", 7m);
        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(kept);
            await db.SaveChangesAsync();

            await transaction.CreateSavepointAsync("before_bob");
            db.Orders.Add(undone);
            await db.SaveChangesAsync();

            // A save that fails in the transaction: EF Core rolls back to a savepoint of its own and releases it.
            var challenge = new Challenge { Title = "twice", EndsAt = DateTime.UtcNow };
            db.Add(challenge);
            await db.SaveChangesAsync();
            db.Entry(challenge).State = EntityState.Detached;
            db.Add(new Challenge { Id = challenge.Id, Title = "twice", EndsAt = DateTime.UtcNow });
            await FluentActions.Awaiting(() => db.SaveChangesAsync()).Should().ThrowAsync<DbUpdateException>();

            await transaction.RollbackToSavepointAsync("before_bob");
            db.ChangeTracker.Clear();   // EF Core keeps what it saved since the savepoint tracked as saved

            await transaction.CreateSavepointAsync("before_cy");
            db.Orders.Add(released);
            await db.SaveChangesAsync();
            await transaction.ReleaseSavepointAsync("before_cy");
            await transaction.CommitAsync();
        });

        _host.Log.Of("after-commit:").Should().Equal($"after-commit:{kept.Id}", $"after-commit:{released.Id}");
        (await _host.InScopeAsync(db => db.Orders.Select(o => o.Id).ToListAsync())).Should().BeEquivalentTo([kept.Id, released.Id]);
        (await _host.OutboxAsync()).Select(r => r.PartitionKey).Should().Equal($"Order/{kept.Id}", $"Order/{released.Id}");
    }

    [Test]
    public async Task An_after_commit_handler_can_use_the_context_after_its_own_transaction_commits()
    {
        var order = Order.Place("ada", 5m);
        _host.Log.AfterCommitStatement = "SELECT 1";
        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(order);
            await db.SaveChangesAsync();
            await transaction.CommitAsync();
            db.Database.CurrentTransaction.Should().BeNull();
            db.Database.GetDbConnection().State.Should().Be(System.Data.ConnectionState.Closed, "EF Core closes the connection it opened for the transaction, as without a handler");
            (await db.Orders.CountAsync()).Should().Be(1, "the context goes on working");
        });

        _host.Log.Of("after-commit:").Should().Equal([$"after-commit:{order.Id}"], "the handler's statement ran on the scope's context, after the commit");
    }

    [Test]
    public async Task A_save_that_did_not_accept_its_changes_and_a_later_save_in_the_same_transaction_run_each_after_commit_handler_once()
    {
        var first = Order.Place("ada", 5m);
        var second = Order.Place("bob", 6m);
        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(first);
            await db.SaveChangesAsync(acceptAllChangesOnSuccess: false);
            first.DomainEvents.Should().NotBeEmpty("the changes are not accepted: the events wait for the commit");
            db.ChangeTracker.AcceptAllChanges();
            db.Orders.Add(second);
            await db.SaveChangesAsync();
            await transaction.CommitAsync();
        });

        _host.Log.Of("after-commit:").Should().Equal($"after-commit:{first.Id}", $"after-commit:{second.Id}");
        (await _host.OutboxAsync()).Select(r => r.PartitionKey).Should().Equal($"Order/{first.Id}", $"Order/{second.Id}");
        first.DomainEvents.Should().BeEmpty();
        second.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public async Task After_commit_handlers_run_only_after_the_data_is_committed()
    {
        var order = Order.Place("ada", 5m);
        _host.Log.ProbeCommitted = () =>
        {
            using var scope = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Microsoft.Extensions.DependencyInjection.IServiceScopeFactory>(_host.Services).CreateScope();
            var db = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<OrderingDbContext>(scope.ServiceProvider);
            return db.Orders.Any(o => o.Id == order.Id);
        };

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        _host.Log.Of("after-commit:").Should().Equal($"after-commit:{order.Id}");
        _host.Log.CommittedWhenAfterCommitRan.Should().BeTrue();
        _host.Log.Calls.Should().ContainInOrder($"audit:{order.Id}", $"after-commit:{order.Id}");
    }

    [Test]
    public async Task A_failed_save_runs_no_after_commit_handler()
    {
        _host.Log.FailuresToInject = 1;
        var order = Order.Place("ada", 5m);
        var act = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        await act.Should().ThrowAsync<InvalidOperationException>();
        _host.Log.Of("after-commit:").Should().BeEmpty();
    }

    /// <summary>
    /// Saves <paramref name="order"/> with an audit entry whose key another save has taken: the database rejects the save
    /// after the handlers ran. Returns the conflicting entry, still tracked.
    /// </summary>
    private async Task<AuditEntry> FailSaveAfterDispatchAsync(OrderingDbContext db, Order order)
    {
        await _host.InScopeAsync(async other =>
        {
            other.AuditEntries.Add(new AuditEntry { Id = 1000, Text = "taken" });
            await other.SaveChangesAsync();
        });

        db.Orders.Add(order);
        var conflicting = new AuditEntry { Id = 1000, Text = "conflict" };
        db.AuditEntries.Add(conflicting);
        var first = () => db.SaveChangesAsync();
        await first.Should().ThrowAsync<DbUpdateException>();
        return conflicting;
    }
}
