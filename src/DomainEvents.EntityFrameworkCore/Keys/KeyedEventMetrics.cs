using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>The counter of keyed events skipped because their key was handled, on the relay's meter.</summary>
internal static class KeyedEventMetrics
{
    private static readonly Counter<long> SkippedCounter = Relay.RelayMetrics.Meter.CreateCounter<long>(
        "domainevents.keyed_events.skipped", "{event}", "Keyed events not dispatched because their key was handled already.");

    public static void Skipped(string eventType) => SkippedCounter.Add(1, new TagList { { "domainevents.event.type", eventType } });
}
