using System.Diagnostics;
using DomainEvents.Messaging;
using DomainEvents.MassTransit.Tests.Model;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// One trace from the request that saves to the consumer on the other side of RabbitMQ, through the outbox and the
/// relay, exported by OpenTelemetry: with MassTransit's own tracing off, and on.
/// </summary>
public sealed class TracingAcrossTheBroker : RabbitMqFixture
{
    private static readonly ActivitySource Requests = new("DomainEvents.Tests.Requests");

    [TestCase(false)]
    [TestCase(true)]
    public async Task The_consumer_joins_the_trace_of_the_request_that_saved_the_event(bool massTransitTracing)
    {
        var exported = new LockedCollection<Activity>();
        string[] sources = massTransitTracing ? [DomainEventsTracing.SourceName, Requests.Name, "MassTransit"] : [DomainEventsTracing.SourceName, Requests.Name];
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource(sources).SetSampler(new AlwaysOnSampler()).AddInMemoryExporter(exported).Build();
        var host = await StartAsync(relay: true, AddOrdersConsumerWithInbox);

        ActivityTraceId trace;
        using (var request = Requests.StartActivity("POST /orders", ActivityKind.Server)!)
        {
            request.AddBaggage("tenant", "t-42");
            trace = request.TraceId;
            await host.SaveAsync(Order.Place(1));
        }

        await Deliveries.WaitUntilAsync(d => d.Of(nameof(OrdersConsumer)).Count == 1);
        // A span is exported when it ends; the publish span may end after the consumer's (the broker's confirm comes later).
        var spans = await ExportedAsync(exported, s => s.Any(a => a.DisplayName.StartsWith("process ", StringComparison.Ordinal) && a.TraceId == trace)
                                                       && s.Any(a => a.DisplayName.StartsWith("publish ", StringComparison.Ordinal) && a.TraceId == trace));

        var ours = spans.Where(a => a.Source.Name == DomainEventsTracing.SourceName && a.TraceId == trace).ToList();
        var write = ours.Should().ContainSingle(a => a.DisplayName == "outbox write OrderPlaced").Subject;
        var publish = ours.Should().ContainSingle(a => a.DisplayName == $"publish {Exchange}").Subject;
        var process = ours.Should().ContainSingle(a => a.DisplayName == $"process {Exchange}").Subject;
        var inbox = ours.Should().ContainSingle(a => a.DisplayName.StartsWith("inbox ", StringComparison.Ordinal)).Subject;
        inbox.GetTagItem("domainevents.inbox.duplicate").Should().Be(false);

        write.ParentSpanId.Should().NotBe(default(ActivitySpanId), "the outbox write is part of the request");
        publish.Kind.Should().Be(ActivityKind.Producer);
        publish.ParentSpanId.Should().Be(write.SpanId, "the relay's publish span continues from the context stored with the row");
        publish.GetTagItem("messaging.destination.name").Should().Be(Exchange);
        publish.GetTagItem("messaging.operation.type").Should().Be("send");
        publish.GetTagItem("messaging.message.id").Should().Be(process.GetTagItem("messaging.message.id"));
        process.Kind.Should().Be(ActivityKind.Consumer);
        process.GetTagItem("domainevents.endpoint").Should().Be(Queue("orders"));
        if (massTransitTracing)
        {
            var massTransit = spans.Where(a => a.Source.Name == "MassTransit" && a.TraceId == trace).ToList();
            massTransit.Should().NotBeEmpty("MassTransit's send and receive spans are in the same trace");
            massTransit.Select(a => a.SpanId).Should().Contain(process.ParentSpanId, "our consumer span runs inside MassTransit's receive span");
            massTransit.Select(a => a.SpanId).Should().Contain(inbox.ParentSpanId, "the inbox runs inside MassTransit's consumer span");
        }
        else
        {
            process.ParentSpanId.Should().Be(publish.SpanId, "without MassTransit's tracing the consumer continues from the publish span in the message");
            inbox.ParentSpanId.Should().Be(process.SpanId);
            process.GetBaggageItem("tenant").Should().Be("t-42", "the request's baggage survives the outbox");
        }
    }

    /// <summary>The exported spans once <paramref name="ready"/> holds (spans are exported when they end), within 10 s.</summary>
    private static async Task<List<Activity>> ExportedAsync(LockedCollection<Activity> exported, Func<List<Activity>, bool> ready)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var snapshot = exported.Snapshot();
            if (ready(snapshot) || DateTime.UtcNow > deadline)
            {
                return snapshot;
            }

            await Task.Delay(50);
        }
    }

    /// <summary>
    /// What the in-memory exporter adds to, from the threads that end spans, while the test reads it: every access under
    /// one lock (a copy of a plain list taken during an add can throw or hold a null).
    /// </summary>
    private sealed class LockedCollection<T> : ICollection<T>
    {
        private readonly List<T> _items = [];

        public int Count
        {
            get
            {
                lock (_items)
                {
                    return _items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public List<T> Snapshot()
        {
            lock (_items)
            {
                return [.. _items];
            }
        }

        public void Add(T item)
        {
            lock (_items)
            {
                _items.Add(item);
            }
        }

        public void Clear()
        {
            lock (_items)
            {
                _items.Clear();
            }
        }

        public bool Contains(T item)
        {
            lock (_items)
            {
                return _items.Contains(item);
            }
        }

        public void CopyTo(T[] array, int arrayIndex)
        {
            lock (_items)
            {
                _items.CopyTo(array, arrayIndex);
            }
        }

        public bool Remove(T item)
        {
            lock (_items)
            {
                return _items.Remove(item);
            }
        }

        public IEnumerator<T> GetEnumerator() => Snapshot().GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
