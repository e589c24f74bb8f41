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

    [Test]
    public async Task A_change_event_the_database_refuses_fails_the_save_and_rolls_the_scope_back_out_loud()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        await host.InScopeAsync(db => db.Database.ExecuteSqlRawAsync(
            "ALTER TABLE outbox_messages ADD CONSTRAINT no_created_questions CHECK (message_type <> 'question.created')"));

        var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled);
        Exception? refused = null;
        try
        {
            await host.InScopeAsync(async db =>
            {
                db.Questions.Add(new Question { Text = "Refused" });
                await db.SaveChangesAsync();
            });
        }
        catch (Exception ex)
        {
            refused = ex;
        }

        // A caller that completes the scope regardless: PostgreSQL has aborted the transaction, and a commit would roll it
        // back without a word. It was rolled back when the insert failed, so completing it throws.
        scope.Complete();
        var dispose = () => scope.Dispose();
        dispose.Should().Throw<TransactionAbortedException>();
        refused.Should().BeOfType<Npgsql.PostgresException>().Which.SqlState.Should().Be("23514");

        (await host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(0, "the question is not saved without its change events");
        (await host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task Change_events_commit_with_a_transaction_the_connection_was_enlisted_in_even_when_the_context_may_not_open_one()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);

        var question = new Question { Text = "Enlisted" };
        using (var transaction = new CommittableTransaction())
        {
            await host.InScopeAsync(async db =>
            {
                db.Database.AutoTransactionBehavior = AutoTransactionBehavior.Never;
                await db.Database.OpenConnectionAsync();
                db.Database.EnlistTransaction(transaction);
                db.Questions.Add(question);
                await db.SaveChangesAsync();
            });
            (await host.OutboxAsync()).Should().BeEmpty("nothing is committed before the transaction is");
            transaction.Commit();
        }

        (await host.OutboxAsync()).Select(r => r.MessageType).Should().Equal("question.created", "audit.question.created");
        (await host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(1);
    }
}
