using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Nodes;
using DomainEvents.EntityFrameworkCore.ChangeEvents;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// Entity types that publish their changes write a change event per destination in the save's own transaction, with
/// the key the database generated, the selected fields or projection, and the names of the changed properties.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class PublishingChangesOfEntities(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _seen = 0;
        _host = await TestHost.StartAsync(provider);
    }

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task An_inserted_entity_with_a_database_generated_key_publishes_created_with_that_key_to_each_destination()
    {
        var question = new Question { Text = "Tabs?", InternalNote = "ignore", Author = new Author { Name = "Ada" } };
        await _host.InScopeAsync(async db =>
        {
            db.Questions.Add(question);
            await db.SaveChangesAsync();
        });

        question.Id.Should().BePositive();
        var rows = await _host.OutboxAsync();
        rows.Select(r => (r.Exchange, r.MessageType, r.RoutingKey, r.Version, r.PartitionKey)).Should().Equal(
            ("polls", "question.created", "question.created", 1, $"Question/{question.Id}"),
            ("audit", "audit.question.created", "audit.question.created", 2, $"Question/{question.Id}"));
        ShouldBeTabsCreated(rows, question.Id);
        rows.Select(r => JsonDocument.Parse(r.Headers).RootElement.GetProperty("correlation-id").GetGuid()).Distinct()
            .Should().Equal([rows[0].MessageId], "the events of one save share a correlation id");
    }

    [Test]
    public async Task An_update_is_published_where_a_selected_field_changed_and_where_any_change_is_asked_for()
    {
        var id = await AddQuestionAsync();

        await UpdateQuestionAsync(id, q => q.InternalNote = "changed");
        (await NewRowsAsync()).Select(r => r.MessageType).Should().Equal(["audit.question.updated"], "polls selects no field that changed; audit publishes any change");

        await UpdateQuestionAsync(id, q => q.Text = "Spaces?");
        var rows = await NewRowsAsync();
        rows.Select(r => r.MessageType).Should().Equal("question.updated", "audit.question.updated");
        Json(rows[0]).Should().Be(Json("""
            {"entity":"Question","key":@id,"operation":"updated","changed":["text"],"data":{"id":@id,"text":"Spaces?","author":{"name":"Ada"}}}
            """, id));

        await UpdateQuestionAsync(id, q => q.Author.Name = "Grace");
        rows = await NewRowsAsync();
        rows.Select(r => r.MessageType).Should().Equal("question.updated", "audit.question.updated");
        Node(rows[0])["changed"]!.ToJsonString().Should().Be("""["author"]""", "a change inside owned data is a change of its navigation");

        await UpdateQuestionAsync(id, _ => { });
        (await NewRowsAsync()).Should().BeEmpty("an unchanged entity publishes nothing");
    }

    [Test]
    public async Task A_deleted_entity_publishes_its_key_and_last_known_values()
    {
        var id = await AddQuestionAsync();
        await _host.InScopeAsync(async db =>
        {
            db.Questions.Remove(await db.Questions.SingleAsync(q => q.Id == id));
            await db.SaveChangesAsync();
        });

        var deleted = (await NewRowsAsync()).First();
        deleted.MessageType.Should().Be("question.deleted");
        Json(deleted).Should().Be(Json("""
            {"entity":"Question","key":@id,"operation":"deleted","changed":[],"data":{"id":@id,"text":"Tabs?","author":{"name":"Ada"}}}
            """, id));
    }

    [Test]
    public async Task A_composite_key_published_by_attribute_is_an_object_and_only_its_selected_field_counts()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Memberships.Add(new Membership { TenantId = "t1", UserId = 7, Role = "member" });
            await db.SaveChangesAsync();
        });
        var created = (await NewRowsAsync()).Single();
        (created.Exchange, created.MessageType, created.PartitionKey).Should().Be(("members", "membership.created", "Membership/t1,7"));
        Node(created)["key"]!.ToJsonString().Should().Be("""{"tenantId":"t1","userId":7}""");
        Node(created)["data"]!.ToJsonString().Should().Be("""{"role":"member"}""");

        await _host.InScopeAsync(async db =>
        {
            (await db.Memberships.SingleAsync()).LastSeen = DateTime.UtcNow;
            await db.SaveChangesAsync();
        });
        (await NewRowsAsync()).Should().BeEmpty("only a field the attribute selects counts");

        await _host.InScopeAsync(async db =>
        {
            (await db.Memberships.SingleAsync()).Role = "admin";
            await db.SaveChangesAsync();
        });
        (await NewRowsAsync()).Single().MessageType.Should().Be("membership.updated");
    }

    [Test]
    public async Task A_shadow_key_generated_by_the_database_is_carried_and_only_the_chosen_operations_publish()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Tags.Add(new Tag { Name = "dotnet" });
            await db.SaveChangesAsync();
        });
        var created = (await NewRowsAsync()).Single();
        var id = Node(created)["key"]!.GetValue<int>();
        id.Should().BePositive();
        created.PartitionKey.Should().Be($"Tag/{id}");
        Node(created)["data"]!.ToJsonString().Should().Be($$$"""{"tagId":{{{id}}},"name":"dotnet"}""");

        await _host.InScopeAsync(async db =>
        {
            (await db.Tags.SingleAsync()).Name = "csharp";
            await db.SaveChangesAsync();
        });
        (await NewRowsAsync()).Should().BeEmpty("updates are not among the operations chosen");

        await _host.InScopeAsync(async db =>
        {
            db.Tags.Remove(await db.Tags.SingleAsync());
            await db.SaveChangesAsync();
        });
        (await NewRowsAsync()).Single().MessageType.Should().Be("tag.deleted");
    }

    [Test]
    public async Task Change_events_join_the_callers_transaction_and_are_rolled_back_with_it()
    {
        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Questions.Add(new Question { Text = "Rolled back" });
            await db.SaveChangesAsync();
            (await db.Set<OutboxMessage>().CountAsync()).Should().Be(0, "the rows are written when the caller commits");
            await transaction.RollbackAsync();
        });
        (await _host.OutboxAsync()).Should().BeEmpty();

        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Questions.Add(new Question { Text = "Committed" });
            await db.SaveChangesAsync();
            await transaction.CommitAsync();
        });
        var rows = await _host.OutboxAsync();
        rows.Should().HaveCount(2);
        rows[0].PartitionKey.Should().Be($"Question/{await _host.InScopeAsync(db => db.Questions.Select(q => q.Id).SingleAsync())}");
    }

    [Test]
    public async Task Changes_saved_in_the_callers_transaction_without_accepting_them_carry_the_key_the_database_generated()
    {
        // EF Core's pattern under a retrying strategy: the save does not accept its changes until the commit succeeded, so
        // the generated key is in the entry, not yet on the entity, while the save ends.
        var question = await AddTabsInATransactionAsync(
            async (db, added) =>
            {
                await db.SaveChangesAsync(acceptAllChangesOnSuccess: false);
                added.Id.Should().Be(0, "the key is on the entity only once the changes are accepted");
            },
            db => db.ChangeTracker.AcceptAllChanges());

        question.Id.Should().BePositive();
        var rows = await _host.OutboxAsync();
        rows.Select(r => r.PartitionKey).Should().Equal($"Question/{question.Id}", $"Question/{question.Id}");
        ShouldBeTabsCreated(rows, question.Id, "the selected fields and the projection carry the key the database generated");
    }

    [Test]
    public async Task Each_change_saved_in_the_callers_transaction_carries_the_data_of_its_own_save_not_of_the_commit()
    {
        // Rows written at the caller's commit: the created event must not show what a later save of the transaction
        // changed (owned data is held by reference until then).
        await AddTabsInATransactionAsync(async (db, added) =>
        {
            await db.SaveChangesAsync();
            added.Author.Name = "Grace";
            await db.SaveChangesAsync();
        });

        var polls = (await _host.OutboxAsync()).Where(r => r.Exchange == "polls").ToList();
        polls.Select(r => r.MessageType).Should().Equal("question.created", "question.updated");
        JsonNode.Parse(polls[0].Payload)!["data"]!["author"]!["name"]!.GetValue<string>().Should().Be("Ada", "the question was created by Ada");
        JsonNode.Parse(polls[1].Payload)!["data"]!["author"]!["name"]!.GetValue<string>().Should().Be("Grace");
    }

    [Test]
    public async Task Changes_saved_after_a_savepoint_that_is_rolled_back_to_publish_nothing()
    {
        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Questions.Add(new Question { Text = "Kept" });
            await db.SaveChangesAsync();
            await transaction.CreateSavepointAsync("before-second");
            db.Questions.Add(new Question { Text = "Undone" });
            await db.SaveChangesAsync();
            await transaction.RollbackToSavepointAsync("before-second");
            await transaction.CommitAsync();
        });

        var kept = await _host.InScopeAsync(db => db.Questions.SingleAsync());
        kept.Text.Should().Be("Kept");
        (await _host.OutboxAsync()).Select(r => r.PartitionKey).Should().Equal([$"Question/{kept.Id}", $"Question/{kept.Id}"],
            "only the question that was committed is published, to each of its two destinations");
    }

    [Test]
    public async Task Changes_saved_in_a_transaction_given_with_UseTransaction_and_committed_past_EF_Core_are_published()
    {
        await SaveInSharedTransactionAsync("Shared", commit: true);

        var id = await _host.InScopeAsync(db => db.Questions.Select(q => q.Id).SingleAsync());
        (await _host.OutboxAsync()).Select(r => r.PartitionKey).Should().Equal([$"Question/{id}", $"Question/{id}"],
            "the change events were written in the transaction, and committed with it");

        // Rolled back past EF Core, they go with the change.
        await SaveInSharedTransactionAsync("Rolled back", commit: false);
        (await _host.OutboxAsync()).Should().HaveCount(2);
        (await _host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(1);

        // EF Core's way to share a transaction with ADO.NET or Dapper: the commit is the connection's, and EF Core sees none.
        Task SaveInSharedTransactionAsync(string text, bool commit) =>
            _host.InScopeAsync(async db =>
            {
                var connection = db.Database.GetDbConnection();
                await connection.OpenAsync();
                await using var transaction = await connection.BeginTransactionAsync();
                await db.Database.UseTransactionAsync(transaction);
                db.Questions.Add(new Question { Text = text });
                await db.SaveChangesAsync();
                await (commit ? transaction.CommitAsync() : transaction.RollbackAsync());
            });
    }

    [Test]
    public async Task A_synchronous_save_writes_change_events_too()
    {
        await _host.InScopeAsync(db =>
        {
            db.Questions.Add(new Question { Text = "Sync?" });
            db.SaveChanges();
            return Task.CompletedTask;
        });

        (await _host.OutboxAsync()).Select(r => r.MessageType).Should().Equal("question.created", "audit.question.created");
    }

    [Test]
    public async Task A_save_that_may_not_open_a_transaction_is_refused_and_saves_nothing()
    {
        var save = () => _host.InScopeAsync(async db =>
        {
            db.Database.AutoTransactionBehavior = AutoTransactionBehavior.Never;
            db.Questions.Add(new Question { Text = "No transaction" });
            await db.SaveChangesAsync();
        });

        (await save.Should().ThrowAsync<ChangeEventsNeedATransactionException>()).Which.Changes.Should().Be(2);
        (await _host.OutboxAsync()).Should().BeEmpty();
        (await _host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(0);
    }

    [Test]
    public async Task A_save_of_a_single_row_is_run_in_a_transaction_and_the_contexts_setting_is_restored()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Questions.Add(new Question { Text = "One" });
            await db.SaveChangesAsync();
            db.Database.AutoTransactionBehavior.Should().Be(AutoTransactionBehavior.WhenNeeded);
        });

        (await _host.OutboxAsync()).Should().HaveCount(2);
    }

    [Test]
    public async Task A_save_refused_before_it_ran_leaves_no_change_event_for_a_later_commit()
    {
        await _host.InScopeAsync(async db =>
        {
            db.Database.AutoTransactionBehavior = AutoTransactionBehavior.Never;
            db.Questions.Add(new Question { Text = "Never saved" });
            var save = () => db.SaveChangesAsync();
            await save.Should().ThrowAsync<ChangeEventsNeedATransactionException>();

            // As a consumer that handles the error does: more work in a transaction of its own, with no save, then a commit.
            db.Database.AutoTransactionBehavior = AutoTransactionBehavior.WhenNeeded;
            await using var transaction = await db.Database.BeginTransactionAsync();
            await db.Memberships.ExecuteDeleteAsync();
            await transaction.CommitAsync();
        });

        (await _host.OutboxAsync()).Should().BeEmpty("the refused save's question was never saved");
        (await _host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(0);
    }

    [Test]
    public async Task A_save_failed_by_a_concurrency_conflict_leaves_no_change_event_for_a_later_commit()
    {
        var id = await AddQuestionAsync();
        await _host.InScopeAsync(async db =>
        {
            var question = await db.Questions.SingleAsync(q => q.Id == id);
            await _host.InScopeAsync(other => other.Questions.ExecuteDeleteAsync());
            question.Text = "Edited after it was deleted";
            var save = () => db.SaveChangesAsync();
            await save.Should().ThrowAsync<DbUpdateConcurrencyException>();

            // EF Core tells interceptors nothing of this failure. The caller goes on in a transaction of its own, with no save.
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await db.Memberships.ExecuteDeleteAsync();
            await transaction.CommitAsync();
        });

        (await NewRowsAsync()).Should().BeEmpty("the conflicting update was never saved");
    }

    [Test]
    public async Task A_cancelled_save_leaves_no_change_event_for_a_later_commit()
    {
        using var cancellation = new CancellationTokenSource();
        await using var host = await TestHost.StartAsync(provider, configureContext: o => o.AddInterceptors(new CancelOnInsert(cancellation)));
        await host.InScopeAsync(async db =>
        {
            db.Questions.Add(new Question { Text = "Cancelled" });
            var save = () => db.SaveChangesAsync(cancellation.Token);
            await save.Should().ThrowAsync<OperationCanceledException>();

            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await db.Memberships.ExecuteDeleteAsync();
            await transaction.CommitAsync();
        });

        (await host.OutboxAsync()).Should().BeEmpty("the cancelled save's question was never saved");
        (await host.InScopeAsync(db => db.Questions.CountAsync())).Should().Be(0);
    }

    /// <summary>The caller gives up while the save's insert is on its way: the save ends in a cancellation.</summary>
    private sealed class CancelOnInsert(CancellationTokenSource cancellation) : DbCommandInterceptor
    {
        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command,
            CommandEventData eventData,
            InterceptionResult<DbDataReader> result,
            CancellationToken cancellationToken = default)
        {
            if (command.CommandText.Contains("INSERT INTO", StringComparison.OrdinalIgnoreCase) && cancellationToken == cancellation.Token)
            {
                cancellation.Cancel();
                cancellationToken.ThrowIfCancellationRequested();
            }

            return ValueTask.FromResult(result);
        }
    }

    private long _seen;

    private async Task<int> AddQuestionAsync()
    {
        var question = new Question { Text = "Tabs?", Author = new Author { Name = "Ada" } };
        await _host.InScopeAsync(async db =>
        {
            db.Questions.Add(question);
            await db.SaveChangesAsync();
        });
        await NewRowsAsync();
        return question.Id;
    }

    private Task UpdateQuestionAsync(int id, Action<Question> change) =>
        _host.InScopeAsync(async db =>
        {
            change(await db.Questions.SingleAsync(q => q.Id == id));
            await db.SaveChangesAsync();
        });

    /// <summary>The rows written since the last call.</summary>
    private async Task<List<OutboxMessage>> NewRowsAsync()
    {
        var rows = (await _host.OutboxAsync()).Where(r => r.Id > _seen).ToList();
        _seen = rows.Count > 0 ? rows[^1].Id : _seen;
        return rows;
    }

    private static string? Json(OutboxMessage row) => JsonNode.Parse(row.Payload)!.ToJsonString();

    private static JsonNode Node(OutboxMessage row) => JsonNode.Parse(row.Payload)!;

    /// <summary>Adds the question "Tabs?" by Ada in a transaction of the caller's, runs <paramref name="saves"/>, commits, then runs <paramref name="committed"/>.</summary>
    private async Task<Question> AddTabsInATransactionAsync(Func<OrderingDbContext, Question, Task> saves, Action<OrderingDbContext>? committed = null)
    {
        var question = new Question { Text = "Tabs?", Author = new Author { Name = "Ada" } };
        await _host.InScopeAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Questions.Add(question);
            await saves(db, question);
            await transaction.CommitAsync();
            committed?.Invoke(db);
        });
        return question;
    }

    /// <summary>The two change events of the question "Tabs?" by Ada, created with <paramref name="id"/>: its selected fields, then its projection.</summary>
    private static void ShouldBeTabsCreated(IReadOnlyList<OutboxMessage> rows, int id, string because = "")
    {
        Json(rows[0]).Should().Be(Json("""
            {"entity":"Question","key":@id,"operation":"created","changed":["id","text","author"],
             "data":{"id":@id,"text":"Tabs?","author":{"name":"Ada"}}}
            """, id), because);
        Json(rows[1]).Should().Be(Json("""
            {"entity":"Question","key":@id,"operation":"created","changed":["id","internalNote","text","author"],
             "data":{"id":@id,"summary":"TABS?"}}
            """, id), because);
    }

    private static string Json(string json, int id) => JsonNode.Parse(json.Replace("@id", id.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))!.ToJsonString();
}
