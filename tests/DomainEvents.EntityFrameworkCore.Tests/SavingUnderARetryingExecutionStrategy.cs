using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
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
