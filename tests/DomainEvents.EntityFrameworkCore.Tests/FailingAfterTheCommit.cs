using System.Collections.Concurrent;
using System.Data.Common;
using DomainEvents.Dispatching;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>Nothing that happens after the commit may make a committed save look failed: a caller that retried would save twice.</summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class FailingAfterTheCommit(DatabaseProvider provider)
{
    private TestHost _host = null!;
    private readonly CancelOnCommit _cancelOnCommit = new();
    private readonly Observer _observer = new();

    [SetUp]
    public async Task StartAsync()
    {
        _observer.Failures.Clear();
        _host = await TestHost.StartAsync(
            provider,
            configureContext: o => o.AddInterceptors(_cancelOnCommit),
            services: s => s.AddSingleton<IAfterCommitFailureObserver>(_observer));
    }

    [TearDown]
    public Task StopAsync() => _host.DisposeAsync().AsTask();

    [Test]
    public async Task An_after_commit_handler_that_throws_leaves_the_save_successful_and_tells_the_observer()
    {
        _host.Log.AfterCommitFailure = () => new InvalidOperationException("the mail server is down");
        var order = Order.Place("c1", 10m);

        var saved = await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            return await db.SaveChangesAsync();
        });

        saved.Should().BeGreaterThan(0);
        (await _host.OrderCountAsync()).Should().Be(1);
        (await _host.OutboxAsync()).Should().ContainSingle(r => r.PartitionKey == $"Order/{order.Id}");
        _observer.Failures.Should().ContainSingle().Which.Error.Message.Should().Be("the mail server is down");
    }

    [Test]
    public async Task An_after_commit_handlers_database_error_without_a_scope_leaves_the_save_successful_and_tells_the_observer()
    {
        _host.Log.AfterCommitStatement = "SELECT * FROM no_such_table";
        var order = Order.Place("c1", 10m);

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        (await _host.OrderCountAsync()).Should().Be(1);
        _observer.Failures.Should().ContainSingle().Which.Error.Should().BeAssignableTo<DbException>();
    }

    [Test]
    public async Task A_request_cancelled_just_after_the_commit_leaves_the_save_successful()
    {
        using var request = new CancellationTokenSource();
        _cancelOnCommit.Source = request;
        var order = Order.Place("c1", 10m);

        var save = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            return await db.SaveChangesAsync(request.Token);
        });

        await save.Should().NotThrowAsync();
        request.IsCancellationRequested.Should().BeTrue("the token was cancelled after the commit, before the after-commit work");
        (await _host.OrderCountAsync()).Should().Be(1);
        _observer.Failures.Should().ContainSingle().Which.Error.Should().BeAssignableTo<OperationCanceledException>();
    }

    [Test]
    public async Task An_after_commit_handler_that_throws_leaves_an_explicit_commit_successful()
    {
        _host.Log.AfterCommitFailure = () => new InvalidOperationException("boom");
        var order = Order.Place("c1", 10m);

        var commit = () => _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(order);
            await db.SaveChangesAsync();
            await transaction.CommitAsync();
        });

        await commit.Should().NotThrowAsync();
        (await _host.OrderCountAsync()).Should().Be(1);
        (await _host.OutboxAsync()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Pending).And.HaveCount(1);
        _observer.Failures.Should().ContainSingle();
    }

    private sealed class CancelOnCommit : DbTransactionInterceptor
    {
        private CancellationTokenSource? _source;

        /// <summary>Cancelled by the next commit, once.</summary>
        public CancellationTokenSource? Source { set => _source = value; }

        public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Interlocked.Exchange(ref _source, null)?.Cancel();
            return Task.CompletedTask;
        }
    }

    internal sealed class Observer : IAfterCommitFailureObserver
    {
        public ConcurrentQueue<(IDomainEvent Event, Exception Error)> Failures { get; } = new();

        public void OnAfterCommitFailed(IDomainEvent domainEvent, Exception exception) => Failures.Enqueue((domainEvent, exception));
    }
}
