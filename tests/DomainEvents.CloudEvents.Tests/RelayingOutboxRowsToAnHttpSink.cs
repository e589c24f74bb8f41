using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CloudNative.CloudEvents;
using DomainEvents.EntityFrameworkCore.Outbox;

namespace DomainEvents.CloudEvents.Tests;

[Category("Integration")]
public sealed class RelayingOutboxRowsToAnHttpSink
{
    [Test]
    public async Task A_saved_integration_event_arrives_as_a_valid_binary_mode_CloudEvent_with_every_attribute()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.StartAsync(sink);
        string traceParent;
        using (var activity = new Activity("place-order").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            activity.TraceStateString = "shop=1";
            traceParent = activity.Id!;
            await host.PlaceOrderAsync("ada", 42.5m);
        }

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        var request = sink.Requests.Should().ContainSingle().Subject;
        request.Error.Should().BeNull();
        var cloudEvent = request.CloudEvent!;
        cloudEvent.IsValid.Should().BeTrue();
        cloudEvent.SpecVersion.Should().Be(CloudEventsSpecVersion.V1_0);
        cloudEvent.Id.Should().Be(row.MessageId.ToString());
        cloudEvent.Source.Should().Be(new Uri("/tests/orders", UriKind.Relative));
        cloudEvent.Type.Should().Be("order.placed");
        cloudEvent.Subject.Should().Be(row.PartitionKey).And.StartWith("Order/");
        cloudEvent.Time.Should().Be(new DateTimeOffset(DateTime.SpecifyKind(row.OccurredAt, DateTimeKind.Utc)));
        cloudEvent.DataContentType.Should().Be("application/json");
        cloudEvent["partitionkey"].Should().Be(row.PartitionKey);
        cloudEvent["version"].Should().Be(2);
        cloudEvent["traceparent"].Should().Be(traceParent);
        cloudEvent["tracestate"].Should().Be("shop=1");
        cloudEvent["correlationid"].Should().Be(row.MessageId.ToString(), "an event saved outside any handled message starts its own conversation");
        cloudEvent["causationid"].Should().BeNull();

        // The body is the payload JSON itself (not a JSON string holding it), and the SDK reads it as JSON.
        Encoding.UTF8.GetString(request.Body).Should().Be(row.Payload);
        var data = cloudEvent.Data.Should().BeOfType<JsonElement>().Subject;
        JsonNode.DeepEquals(JsonNode.Parse(data.GetRawText()), JsonNode.Parse(row.Payload)).Should().BeTrue();
        data.GetProperty("customer").GetString().Should().Be("ada");

        request.Headers["content-type"].Should().StartWith("application/json");
        request.Headers.Should().ContainKey("ce-specversion").WhoseValue.Should().Be("1.0");
        row.Attempts.Should().Be(0);
    }

    [Test]
    [NonParallelizable]
    public async Task With_tracing_on_the_sink_gets_the_relays_publish_span_as_the_parent_in_the_saving_trace()
    {
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == DomainEvents.Messaging.DomainEventsTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.StartAsync(sink);
        ActivityTraceId trace;
        using (var activity = new Activity("place-order").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            trace = activity.TraceId;
            await host.PlaceOrderAsync("ada", 42.5m);
        }

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        var publish = stopped.Should().ContainSingle(a => a.Kind == ActivityKind.Producer && a.TraceId == trace).Subject;
        sink.Delivered.Should().ContainSingle().Which["traceparent"].Should().Be(publish.Id, "the receiver continues from the publish span, in the trace of the request that saved");
    }

    [Test]
    public async Task The_trace_extensions_are_left_out_when_no_activity_was_current_at_save()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.StartAsync(sink);
        Activity.Current = null;

        await host.PlaceOrderAsync();

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        var cloudEvent = sink.Delivered.Should().ContainSingle().Subject;
        cloudEvent["traceparent"].Should().BeNull();
        cloudEvent["tracestate"].Should().BeNull();
        sink.Requests.Single().Headers.Should().NotContainKey("ce-traceparent");
    }

    [Test]
    public async Task TypeIncludesVersion_sends_the_type_with_a_version_suffix()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.StartAsync(sink, o => o.TypeIncludesVersion = true);

        await host.PlaceOrderAsync();

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        var cloudEvent = sink.Delivered.Should().ContainSingle().Subject;
        cloudEvent.Type.Should().Be("order.placed.v2");
        cloudEvent["version"].Should().Be(2);
    }

    [Test]
    public async Task Every_saved_event_is_delivered_once_the_sink_accepts_it()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.StartAsync(sink);

        for (var i = 0; i < 20; i++)
        {
            await host.PlaceOrderAsync($"customer-{i}", i);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await host.OutboxAsync()).Any(r => r.Status != OutboxMessageStatus.Processed) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var rows = await host.OutboxAsync();
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
        sink.Delivered.Select(e => e.Id).Should().BeEquivalentTo(rows.Select(r => r.MessageId.ToString()));
    }
}
