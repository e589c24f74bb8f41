using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The consumer side's metrics, on the meter <c>DomainEvents.MassTransit</c>. Tags are bounded: the endpoint (its queue
/// name), the message type, the consumer's inbox name.
/// </summary>
internal static class ConsumerMetrics
{
    /// <summary>The meter's name; listen to it with OpenTelemetry's <c>AddMeter("DomainEvents.MassTransit")</c>.</summary>
    public const string MeterName = "DomainEvents.MassTransit";

    /// <summary>The counter of messages acknowledged without handling because their type is ignored.</summary>
    public const string IgnoredCounterName = "domainevents.consumer.ignored";

    /// <summary>The tag naming the endpoint: its queue.</summary>
    public const string EndpointTag = "domainevents.endpoint";

    /// <summary>The tag naming the message type.</summary>
    public const string MessageTypeTag = "domainevents.message.type";

    /// <summary>The tag naming the consumer in the inbox.</summary>
    public const string ConsumerTag = "domainevents.consumer";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> IgnoredCounter =
        Meter.CreateCounter<long>(IgnoredCounterName, "{message}", "Messages acknowledged without handling because the consumer ignores their type.");

    private static readonly Counter<long> ConsumedCounter =
        Meter.CreateCounter<long>("domainevents.consumer.consumed", "{message}", "Messages the endpoint's consumer handled (its inbox transaction committed, where it has one).");

    private static readonly Counter<long> DuplicateCounter =
        Meter.CreateCounter<long>("domainevents.consumer.duplicates", "{message}", "Messages the inbox skipped because the consumer had handled them already.");

    private static readonly Counter<long> StaleCounter =
        Meter.CreateCounter<long>("domainevents.replica.stale", "{message}", "Messages a replica consumer skipped because a later one of the same key was applied already.");

    private static readonly Histogram<double> ConsumeDelay =
        Meter.CreateHistogram<double>("domainevents.consumer.delay", "s", "From the event's occurred-at to the end of its handling by the consumer.");

    public static void Ignored(string messageType, string endpoint) =>
        IgnoredCounter.Add(1, new TagList { { MessageTypeTag, messageType }, { EndpointTag, endpoint } });

    public static void Consumed(string messageType, string endpoint, DateTime? occurredAtUtc)
    {
        var tags = new TagList { { MessageTypeTag, messageType }, { EndpointTag, endpoint } };
        ConsumedCounter.Add(1, tags);
        if (occurredAtUtc is { } occurred)
        {
            ConsumeDelay.Record(Math.Max(0, (DateTime.UtcNow - occurred).TotalSeconds), tags);
        }
    }

    public static void Duplicate(string? messageType, string consumer) =>
        DuplicateCounter.Add(1, new TagList { { MessageTypeTag, messageType ?? "" }, { ConsumerTag, consumer } });

    public static void Stale(string messageType, string replica) =>
        StaleCounter.Add(1, new TagList { { MessageTypeTag, messageType }, { ConsumerTag, replica } });
}
