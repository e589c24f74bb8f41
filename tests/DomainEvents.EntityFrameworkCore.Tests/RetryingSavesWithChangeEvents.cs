using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using System.Data.Common;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A retrying execution strategy runs a save again when its commit fails: the retry writes the change events again, in
/// its new transaction, since the failed one took them with it. (Npgsql hands out the same transaction object for both.)
/// </summary>
[TestFixture(Category = "Integration")]
public sealed class RetryingSavesWithChangeEvents
{
    [Test]
    public async Task A_save_whose_first_commit_fails_commits_its_change_events_with_the_retry()
    {
        var failing = new FailFirstCommit();
        await using var host = await TestHost.StartAsync(
            DatabaseProvider.PostgreSql,
            npgsql: n => n.ExecutionStrategy(d => new RetryOnTransientTestFailure(d)),
            events: e => e.Services.ConfigureDbContext<OrderingDbContext>(o => o.AddInterceptors(failing)));
        var question = new Question { Text = "Retried" };

        await host.InScopeAsync(async db =>
        {
            // An open connection keeps its Npgsql connector, which hands out one transaction object for both attempts.
            await db.Database.OpenConnectionAsync();
            db.Questions.Add(question);
            await db.SaveChangesAsync();
        });

        failing.Failures.Should().Be(1, "the first commit failed after the change events were written");
        var rows = await host.OutboxAsync();
        rows.Select(r => r.MessageType).Should().Equal("question.created", "audit.question.created");
        rows.Should().OnlyContain(r => r.PartitionKey == $"Question/{question.Id}");
        (await host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(1);
    }

    private sealed class TransientTestFailure() : Exception("injected commit failure");

    private sealed class RetryOnTransientTestFailure(ExecutionStrategyDependencies dependencies)
        : ExecutionStrategy(dependencies, maxRetryCount: 3, maxRetryDelay: TimeSpan.FromMilliseconds(10))
    {
        protected override bool ShouldRetryOn(Exception exception) => exception is TransientTestFailure;
    }

    /// <summary>Registered after the library's interceptor: it fails the first commit once the change events are written.</summary>
    private sealed class FailFirstCommit : DbTransactionInterceptor
    {
        public int Failures;

        public override ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref Failures) == 1)
            {
                throw new TransientTestFailure();
            }

            Interlocked.Decrement(ref Failures);
            return ValueTask.FromResult(result);
        }
    }
}
