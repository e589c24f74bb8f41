using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace DomainEvents.EntityFrameworkCore.Tests;

[Category("Integration")]
public sealed class SavingUnderARetryingExecutionStrategy
{
    private TestHost _host = null!;
    private FailFirstOutboxInsert _failure = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _failure = new FailFirstOutboxInsert();
        _host = await TestHost.StartAsync(
            DatabaseProvider.PostgreSql,
            npgsql: n => n.EnableRetryOnFailure(3, TimeSpan.FromMilliseconds(50), null),
            configureContext: o => o.AddInterceptors(_failure));
    }

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task A_transient_failure_during_the_save_is_retried_and_the_event_is_dispatched_and_stored_once()
    {
        var order = Order.Place("ada", 5m);
        _failure.Armed = true;

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        _failure.Failures.Should().Be(1, "the first attempt failed with a transient error");
        _host.Log.Of("audit:").Should().Equal($"audit:{order.Id}");
        (await _host.OutboxAsync()).Should().ContainSingle().Which.PartitionKey.Should().Be($"Order/{order.Id}");
        (await _host.OrderCountAsync()).Should().Be(1);
        order.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public async Task An_explicit_transaction_inside_the_execution_strategy_is_retried_as_a_whole()
    {
        var order = Order.Place("ada", 5m);
        _failure.Armed = true;

        await _host.InScopeAsync(async db =>
        {
            var strategy = db.Database.CreateExecutionStrategy();
            await strategy.ExecuteAsync(async () =>
            {
                db.ChangeTracker.Clear();
                var attempt = Order.Place("ada", 5m);
                await using var transaction = await db.Database.BeginTransactionAsync();
                db.Orders.Add(attempt);
                await db.SaveChangesAsync();
                await transaction.CommitAsync();
            });
        });

        _failure.Failures.Should().Be(1);
        (await _host.OutboxAsync()).Should().ContainSingle();
        (await _host.OrderCountAsync()).Should().Be(1);
        _host.Log.Of("after-commit:").Should().ContainSingle("after-commit handlers run for the attempt that committed");
        _ = order;
    }

    [Test]
    public async Task A_commit_that_fails_once_in_EF_Cores_retry_pattern_runs_the_after_commit_handlers_of_the_attempt_that_commits()
    {
        var order = Order.Place("ada", 5m);
        var commitFailure = new FailFirstCommit();
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            var strategy = db.Database.CreateExecutionStrategy();
            commitFailure.Armed = true;
            await strategy.ExecuteAsync(async () =>
            {
                // EF Core's pattern for a transaction under a retrying strategy: the changes stay pending until it commits.
                await using var transaction = await db.Database.BeginTransactionAsync();
                await db.SaveChangesAsync(acceptAllChangesOnSuccess: false);
                await commitFailure.CommitAsync(transaction);
            });
            db.ChangeTracker.AcceptAllChanges();
        });

        commitFailure.Failures.Should().Be(1, "the first commit failed with a transient error");
        (await _host.OrderCountAsync()).Should().Be(1);
        (await _host.OutboxAsync()).Should().ContainSingle().Which.PartitionKey.Should().Be($"Order/{order.Id}");
        _host.Log.Of("audit:").Should().Equal([$"audit:{order.Id}"], "the handlers ran once; the retry saved what they left");
        _host.Log.Of("after-commit:").Should().Equal([$"after-commit:{order.Id}"], "the attempt that committed ran the after-commit handlers");
        order.DomainEvents.Should().BeEmpty();
    }

    /// <summary>Fails the first commit with a transient error, after rolling the transaction back, as a lost commit would.</summary>
    private sealed class FailFirstCommit
    {
        public bool Armed { get; set; }

        public int Failures { get; private set; }

        public async Task CommitAsync(Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction)
        {
            if (Armed)
            {
                Armed = false;
                Failures++;
                await transaction.RollbackAsync();
                throw new NpgsqlException("simulated connection loss at commit", new TimeoutException());
            }

            await transaction.CommitAsync();
        }
    }

    /// <summary>Throws a transient Npgsql error on the first command that inserts into the outbox.</summary>
    private sealed class FailFirstOutboxInsert : DbCommandInterceptor
    {
        public bool Armed { get; set; }

        public int Failures { get; private set; }

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (Armed && command.CommandText.Contains("outbox_messages", StringComparison.Ordinal) && command.CommandText.Contains("INSERT", StringComparison.Ordinal))
            {
                Armed = false;
                Failures++;
                throw new NpgsqlException("simulated connection loss", new TimeoutException());
            }

            return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
        }
    }
}
