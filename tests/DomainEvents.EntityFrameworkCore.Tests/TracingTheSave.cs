using System.Collections.Concurrent;
using System.Diagnostics;
using DomainEvents.Messaging;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>The spans of a save: one per handler and one per outbox row, in the trace of the code that saves.</summary>
[NonParallelizable]
public sealed class TracingTheSave
{
    [Test]
    public async Task A_save_traces_each_handler_and_each_outbox_row_under_the_callers_span()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is DomainEventsTracing.SourceName or "DomainEvents.Tests.Save",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("DomainEvents.Tests.Save");
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite);

        using (var request = source.StartActivity("PlaceOrder")!)
        {
            await host.InScopeAsync(async db =>
            {
                db.Orders.Add(Order.Place("c1", 10m));
                await db.SaveChangesAsync();
            });

            var ours = spans.Where(a => a.Source.Name == DomainEventsTracing.SourceName).ToList();
            ours.Should().OnlyContain(a => a.TraceId == request.TraceId && a.ParentSpanId == request.SpanId);
            ours.Should().ContainSingle(a => a.DisplayName == "outbox write OrderPlaced").Which.GetTagItem("domainevents.message.type").Should().Be("order.placed");
            ours.Should().ContainSingle(a => a.DisplayName == "dispatch OrderPlaced" && (string?)a.GetTagItem("domainevents.handler") == nameof(AuditOrderPlaced));
        }

        var row = (await host.OutboxAsync()).Single();
        var write = spans.Single(a => a.DisplayName == "outbox write OrderPlaced");
        row.Headers.Should().Contain($"\"traceparent\":\"{write.Id}\"", "the row carries the write span's context for the relay's publish span");
    }
}
