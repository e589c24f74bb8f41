using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>The consumer side's metrics, on the meter <c>DomainEvents.MassTransit</c>.</summary>
internal static class ConsumerMetrics
{
    /// <summary>The meter's name; listen to it with OpenTelemetry's <c>AddMeter("DomainEvents.MassTransit")</c>.</summary>
    public const string MeterName = "DomainEvents.MassTransit";

    /// <summary>The counter of messages acknowledged without handling because their type is ignored.</summary>
    public const string IgnoredCounterName = "domainevents.consumer.ignored";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> IgnoredCounter =
        Meter.CreateCounter<long>(IgnoredCounterName, "{message}", "Messages acknowledged without handling because the consumer ignores their type.");

    public static void Ignored(string messageType, string endpoint) =>
        IgnoredCounter.Add(1, new TagList { { "MessageType", messageType }, { "Endpoint", endpoint } });
}
