using System.Transactions;
using DomainEvents.Dispatching;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A commit notifier that fails: inside a transaction it fails that transaction and the save that ran it, loudly; after a
/// committed save it is only logged. Never is a save lost while its caller is told it succeeded.
/// </summary>
[Category("Integration")]
public sealed class FailingCommitNotifiers
{
    [Test]
    public async Task A_notifier_failing_in_the_saves_own_transaction_fails_the_save_and_stores_nothing()
    {
        await using var host = await StartAsync();

        var save = () => host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("own transaction", 1m));
            await db.SaveChangesAsync();
        });

        (await save.Should().ThrowAsync<PostgresException>()).Which.SqlState.Should().Be(PostgresErrorCodes.DivisionByZero);
        (await host.OrderCountAsync()).Should().Be(0);
        (await host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task A_notifier_failing_after_a_save_without_a_transaction_is_logged_and_the_save_stands()
    {
        await using var host = await StartAsync();

        // One INSERT: EF Core runs it without a transaction, so the notifiers run after it committed.
        await host.InScopeAsync(async (db, services) =>
        {
            services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>().Publish("user", "user.updated", new { }, "user/1");
            await db.SaveChangesAsync();
        });

        (await host.OutboxAsync()).Should().ContainSingle().Which.MessageType.Should().Be("user.updated");
        host.Services.GetServices<IOutboxCommitNotifier>().OfType<DividingByZero>().Single().Calls.Should().Be(1, "the notifier ran, and failed");
    }

    [Test]
    public async Task A_notifier_failing_in_an_ambient_transaction_fails_the_save_and_the_scope_instead_of_losing_the_save_silently()
    {
        await using var host = await StartAsync();

        var saved = false;
        var run = async () =>
        {
            using var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled);
            await host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("ambient", 1m));
                try
                {
                    await db.SaveChangesAsync();
                    saved = true;
                }
                catch (PostgresException)
                {
                    // A caller that swallows the failure and completes the scope anyway must still learn the scope failed.
                }
            });
            scope.Complete();
        };

        await run.Should().ThrowAsync<TransactionAbortedException>();
        saved.Should().BeFalse("the save's transaction was aborted by its notifier, so the save must not return as if it stood");
        (await host.OrderCountAsync()).Should().Be(0);
        (await host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task A_notifier_failing_in_a_transaction_the_connection_was_enlisted_in_fails_the_save_and_that_transaction()
    {
        await using var host = await StartAsync();

        using var transaction = new CommittableTransaction();
        var save = () => host.InScopeAsync(async db =>
        {
            await db.Database.OpenConnectionAsync();
            db.Database.EnlistTransaction(transaction);
            db.Orders.Add(Order.Place("enlisted", 1m));
            await db.SaveChangesAsync();
        });

        await save.Should().ThrowAsync<PostgresException>();
        transaction.Invoking(t => t.Commit()).Should().Throw<TransactionAbortedException>();
        (await host.OrderCountAsync()).Should().Be(0);
        (await host.OutboxAsync()).Should().BeEmpty();
    }

    private static Task<TestHost> StartAsync() =>
        TestHost.StartAsync(DatabaseProvider.PostgreSql, services: s => s.AddSingleton<IOutboxCommitNotifier, DividingByZero>());

    /// <summary>A notifier whose statement fails on the database, which aborts the transaction it runs in.</summary>
    private sealed class DividingByZero : IOutboxCommitNotifier
    {
        private int _calls;

        public int Calls => _calls;

        public Task NotifyAsync(DbContext context, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            return context.Database.ExecuteSqlRawAsync("SELECT 1/0", cancellationToken);
        }
    }
}

/// <summary>
/// In an ambient transaction the after-commit handlers run before the scope commits, inside it: a database error of theirs
/// may have aborted its transaction, so it rolls the scope back, loudly, rather than letting the scope's commit roll the
/// save back without a word.
/// </summary>
[Category("Integration")]
public sealed class FailingAfterTheSaveInATransactionScope
{
    [Test]
    public async Task An_after_commit_handlers_database_error_in_a_scope_rolls_the_scope_back_and_stops_the_handlers_after_it()
    {
        var observer = new FailingAfterTheCommit.Observer();
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql, services: s => s.AddSingleton<IAfterCommitFailureObserver>(observer));
        host.Log.AfterCommitStatement = "SELECT 1/0";

        var saved = 0;
        var run = async () =>
        {
            using var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled);
            saved = await host.InScopeAsync(async db =>
            {
                db.Orders.AddRange(Order.Place("first", 1m), Order.Place("second", 2m));
                return await db.SaveChangesAsync();
            });
            scope.Complete();
        };

        await run.Should().ThrowAsync<TransactionAbortedException>();
        saved.Should().BeGreaterThan(0, "an after-commit handler's failure never fails the save itself");
        observer.Failures.Should().BeEmpty("the save did not commit: there is no follow-up to schedule again");
        host.Log.Of("after-commit-statement").Should().ContainSingle("the second order's handler does not run once the scope is rolled back");
        host.Log.Of("after-commit:").Should().BeEmpty();
        (await host.OrderCountAsync()).Should().Be(0);
        (await host.OutboxAsync()).Should().BeEmpty();
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task An_after_commit_handler_that_swallows_its_database_error_in_a_scope_still_rolls_the_scope_back(bool synchronously)
    {
        var observer = new FailingAfterTheCommit.Observer();
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql, services: s => s.AddSingleton<IAfterCommitFailureObserver>(observer));
        host.Log.AfterCommitStatement = "SELECT 1/0";
        host.Log.AfterCommitSwallowsDatabaseErrors = true;
        host.Log.AfterCommitStatementRunsSynchronously = synchronously;

        var saved = 0;
        var run = async () =>
        {
            using var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled);
            saved = await host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("best effort", 1m));
                return await db.SaveChangesAsync();
            });
            scope.Complete();
        };

        await run.Should().ThrowAsync<TransactionAbortedException>("the handler left PostgreSQL's transaction aborted");
        saved.Should().BeGreaterThan(0);
        host.Log.Of("after-commit:").Should().ContainSingle("the handler went on after its error");
        observer.Failures.Should().BeEmpty();
        (await host.OrderCountAsync()).Should().Be(0);
        (await host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task An_after_commit_handler_failing_outside_the_database_in_a_scope_leaves_the_scope_to_commit()
    {
        var observer = new FailingAfterTheCommit.Observer();
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql, services: s => s.AddSingleton<IAfterCommitFailureObserver>(observer));
        host.Log.AfterCommitFailure = () => new InvalidOperationException("the mail server is down");

        using (var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            await host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("ambient", 1m));
                await db.SaveChangesAsync();
            });
            scope.Complete();
        }

        (await host.OrderCountAsync()).Should().Be(1);
        (await host.OutboxAsync()).Should().ContainSingle();
        observer.Failures.Should().ContainSingle().Which.Error.Message.Should().Be("the mail server is down");
    }
}
