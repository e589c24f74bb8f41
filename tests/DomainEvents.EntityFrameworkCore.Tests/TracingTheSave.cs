using System.Collections.Concurrent;
using System.Diagnostics;
using DomainEvents.Messaging;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

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

    [Test]
    public async Task With_tracing_on_a_row_whose_stored_headers_are_not_json_is_still_sent()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == DomainEventsTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        await using var host = await TestHost.StartAsync(DatabaseProvider.Sqlite);
        await host.AddOutboxRowAsync("ordering", Outbox.OutboxMessageStatus.Pending, DateTime.UtcNow);
        await host.InScopeAsync(db => db.Set<Outbox.OutboxMessage>().ExecuteUpdateAsync(s => s.SetProperty(m => m.Headers, "{not json")));
        var transport = new SendingRowsCommittedInThisProcess.RecordingTransport();
        using var relay = new Relay.OutboxRelay<OrderingDbContext>(
            host.Services.GetRequiredService<IServiceScopeFactory>(), new Outbox.OutboxSignal(), transport, new Relay.OutboxRelayOptions(), TimeProvider.System,
            NullLogger<Relay.OutboxRelay<OrderingDbContext>>.Instance);

        var batch = await relay.RunOnceAsync(CancellationToken.None);

        batch.Processed.Should().Be(1, "the publish span is left out; the transport decides about the row, as it does without tracing");
        transport.Sent.Should().ContainSingle();
    }
}
