using System.Transactions;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>In an ambient <see cref="TransactionScope"/> change events are written when the save ends and commit or roll back with the scope.</summary>
[Category("Integration")]
public sealed class SavingChangeEventsInATransactionScope
{
    [Test]
    public async Task Change_events_commit_with_a_completed_scope_and_vanish_with_one_rolled_back()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);

        using (new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            await host.InScopeAsync(async db =>
            {
                db.Questions.Add(new Question { Text = "Rolled back" });
                await db.SaveChangesAsync();
            });
        }

        (await host.OutboxAsync()).Should().BeEmpty();

        var question = new Question { Text = "Committed" };
        using (var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            await host.InScopeAsync(async db =>
            {
                db.Questions.Add(question);
                await db.SaveChangesAsync();
            });
            scope.Complete();
        }

        var rows = await host.OutboxAsync();
        rows.Select(r => r.MessageType).Should().Equal("question.created", "audit.question.created");
        rows.Should().OnlyContain(r => r.PartitionKey == $"Question/{question.Id}");
        (await host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(1);
    }
}
