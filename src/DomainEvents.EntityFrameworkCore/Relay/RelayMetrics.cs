using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>The relay's metrics, on the meter <c>DomainEvents.Relay</c>.</summary>
internal static class RelayMetrics
{
    /// <summary>The meter's name; listen to it with OpenTelemetry's <c>AddMeter("DomainEvents.Relay")</c>.</summary>
    public const string MeterName = "DomainEvents.Relay";

    /// <summary>Messages the transport confirmed and the relay recorded as processed.</summary>
    public const string ProcessedCounterName = "domainevents.relay.processed";

    /// <summary>Failed publish attempts (the row is retried later, or is dead).</summary>
    public const string FailedCounterName = "domainevents.relay.failed";

    /// <summary>Rows that went dead.</summary>
    public const string DeadCounterName = "domainevents.relay.dead";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> ProcessedCounter =
        Meter.CreateCounter<long>(ProcessedCounterName, "{message}", "Messages the transport confirmed and the relay recorded as processed.");

    private static readonly Counter<long> FailedCounter =
        Meter.CreateCounter<long>(FailedCounterName, "{message}", "Failed publish attempts.");

    private static readonly Counter<long> DeadCounter =
        Meter.CreateCounter<long>(DeadCounterName, "{message}", "Outbox rows that went dead.");

    public static void Processed(int count, string relayInstance) =>
        ProcessedCounter.Add(count, new TagList { { "RelayInstance", relayInstance } });

    public static void Failed(string messageType, bool dead)
    {
        var tags = new TagList { { "MessageType", messageType } };
        FailedCounter.Add(1, tags);
        if (dead)
        {
            DeadCounter.Add(1, tags);
        }
    }
}
