using System.Text.Json;
using CloudNative.CloudEvents;
using DomainEvents.CloudEvents.Tests.Model;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.CloudEvents.Tests;

/// <summary>Saving a plain entity that publishes its changes sends a CloudEvent per save to the sink, with no event class.</summary>
[Category("Integration")]
public sealed class SendingEntityChangesToTheSink
{
    [Test]
    public async Task A_saved_question_arrives_as_a_valid_CloudEvent_naming_it_with_its_fields_and_what_changed()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.StartAsync(sink, events: e => e.AddHeaderEnricher((_, h) => h.Set("tenant", "acme")));
        var question = new Question { Text = "Tabs or spaces?" };
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
            db.Questions.Add(question);
            await db.SaveChangesAsync();
            question.Text = "Tabs?";
            question.Votes = 3;
            await db.SaveChangesAsync();
            question.Votes = 4;
            await db.SaveChangesAsync();
            db.Questions.Remove(question);
            await db.SaveChangesAsync();
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await host.OutboxAsync()).Any(r => r.Status != OutboxMessageStatus.Processed) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var events = sink.Delivered;
        events.Select(e => e.Type).Should().Equal(["question.created", "question.updated", "question.deleted"], "a change only to Votes, which no event carries, publishes nothing");
        foreach (var cloudEvent in events)
        {
            cloudEvent.IsValid.Should().BeTrue();
            cloudEvent.SpecVersion.Should().Be(CloudEventsSpecVersion.V1_0);
            cloudEvent.Subject.Should().Be($"Question/{question.Id}", "the subject names the entity and its key");
            cloudEvent.Source.Should().Be(new Uri("/tests/orders", UriKind.Relative));
            cloudEvent["tenant"].Should().Be("acme", "a header enricher's header is an extension attribute");
        }

        var created = Data(events[0]);
        created.GetProperty("entity").GetString().Should().Be("Question");
        created.GetProperty("key").GetInt32().Should().Be(question.Id, "the key the database generated is in the event");
        created.GetProperty("operation").GetString().Should().Be("created");
        created.GetProperty("data").GetRawText().Should().Be($$"""{"id":{{question.Id}},"text":"Tabs or spaces?"}""");
        var updated = Data(events[1]);
        updated.GetProperty("changed").EnumerateArray().Select(c => c.GetString()).Should().Equal(["text"], "only selected fields are named; Votes changed too");
        updated.GetProperty("data").GetProperty("text").GetString().Should().Be("Tabs?");
        Data(events[2]).GetProperty("data").GetProperty("text").GetString().Should().Be("Tabs?", "a deleted entity carries its last known values");
    }

    private static JsonElement Data(CloudEvent cloudEvent) => cloudEvent.Data.Should().BeOfType<JsonElement>().Subject;
}
