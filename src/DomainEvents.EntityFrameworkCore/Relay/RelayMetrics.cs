using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using DomainEvents.EntityFrameworkCore.Monitoring;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The outbox's and the relay's metrics, on the meter <c>DomainEvents.Relay</c>. Tags are bounded: the outbox (its
/// context's type name), the exchange and the message type; never a relay instance or a message id.
/// </summary>
internal static class RelayMetrics
{
    /// <summary>The meter's name; listen to it with OpenTelemetry's <c>AddMeter("DomainEvents.Relay")</c>.</summary>
    public const string MeterName = "DomainEvents.Relay";

    /// <summary>The tag naming the outbox: its DbContext's type name.</summary>
    public const string OutboxTag = "domainevents.outbox";

    /// <summary>The tag naming the exchange, as OpenTelemetry's messaging conventions name a destination.</summary>
    public const string ExchangeTag = "messaging.destination.name";

    /// <summary>The tag naming the message type.</summary>
    public const string MessageTypeTag = "domainevents.message.type";

    internal static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> WrittenCounter =
        Meter.CreateCounter<long>("domainevents.outbox.written", "{message}", "Outbox rows committed by this process.");

    private static readonly Counter<long> ProcessedCounter =
        Meter.CreateCounter<long>("domainevents.relay.processed", "{message}", "Messages the transport confirmed and the relay recorded as processed.");

    private static readonly Counter<long> FailedCounter =
        Meter.CreateCounter<long>("domainevents.relay.failed", "{message}", "Failed publish attempts (refusals and errors of the message; outages are not counted).");

    private static readonly Counter<long> DeadCounter =
        Meter.CreateCounter<long>("domainevents.relay.dead", "{message}", "Outbox rows that went dead.");

    private static readonly Counter<long> BusyCounter =
        Meter.CreateCounter<long>("domainevents.relay.busy", "{message}", "Sends a destination did not take for now (a RabbitMQ nack: a queue at its length limit): the row is held, with no attempt counted, until its lease runs out.");

    private static readonly Counter<long> RetriedCounter =
        Meter.CreateCounter<long>("domainevents.outbox.retried", "{message}", "Dead rows an operator made pending again.");

    private static readonly Histogram<double> ClaimDuration =
        Meter.CreateHistogram<double>("domainevents.relay.claim.duration", "s", "How long a claim statement took.");

    private static readonly Histogram<int> BatchSize =
        Meter.CreateHistogram<int>("domainevents.relay.batch.size", "{message}", "Rows per claimed batch.");

    private static readonly Histogram<double> PublishDelay =
        Meter.CreateHistogram<double>("domainevents.relay.publish.delay", "s", "From the event's occurred-at to the transport's confirmation.");

    // By context type: two contexts with the same short name are still two outboxes.
    private static readonly ConcurrentDictionary<Type, OutboxBacklog> Backlogs = new();

    private static readonly Instrument[] BacklogGauges =
    [
        Meter.CreateObservableGauge("domainevents.outbox.pending", () => Measure(e => e.Pending), "{message}", "Pending outbox rows, leased ones included, per exchange."),
        Meter.CreateObservableGauge("domainevents.outbox.leased", () => Measure(e => e.Leased), "{message}", "Pending rows a relay is sending now, per exchange."),
        Meter.CreateObservableGauge("domainevents.outbox.dead", () => Measure(e => e.Dead), "{message}", "Dead rows waiting for an operator, per exchange."),
        Meter.CreateObservableGauge("domainevents.outbox.oldest_pending_age", MeasureAges, "s", "How long the oldest pending row of each exchange has waited since its event occurred, at the time of the scrape (0 when none waits)."),
    ];

    /// <summary>Gets whether anything listens to the backlog gauges; when nothing does, the backlog need not be read.</summary>
    public static bool BacklogObserved => BacklogGauges.Any(g => g.Enabled);

    // A listener whose callback throws must neither stop a batch nor turn a committed save into an exception: each
    // recording below swallows what a listener throws.
    public static void Written(string outbox, int count)
    {
        try
        {
            WrittenCounter.Add(count, new KeyValuePair<string, object?>(OutboxTag, outbox));
        }
        catch (Exception)
        {
        }
    }

    public static void Processed(string outbox, int count)
    {
        try
        {
            ProcessedCounter.Add(count, new KeyValuePair<string, object?>(OutboxTag, outbox));
        }
        catch (Exception)
        {
        }
    }

    public static void Failed(string outbox, OutboxEnvelope row, bool dead)
    {
        try
        {
            var tags = RowTags(outbox, row);
            FailedCounter.Add(1, tags);
            if (dead)
            {
                DeadCounter.Add(1, tags);
            }
        }
        catch (Exception)
        {
        }
    }

    public static void Busy(string outbox, OutboxEnvelope row)
    {
        try
        {
            BusyCounter.Add(1, RowTags(outbox, row));
        }
        catch (Exception)
        {
        }
    }

    /// <summary>The tags of a measurement about one row: its outbox, exchange and message type.</summary>
    private static TagList RowTags(string outbox, OutboxEnvelope row) =>
        new() { { OutboxTag, outbox }, { ExchangeTag, row.Exchange }, { MessageTypeTag, row.MessageType } };

    public static void Retried(string outbox, int count)
    {
        try
        {
            RetriedCounter.Add(count, new KeyValuePair<string, object?>(OutboxTag, outbox));
        }
        catch (Exception)
        {
        }
    }

    public static void Claimed(string outbox, TimeSpan duration, int rows)
    {
        try
        {
            var tag = new KeyValuePair<string, object?>(OutboxTag, outbox);
            ClaimDuration.Record(duration.TotalSeconds, tag);
            if (rows > 0)
            {
                BatchSize.Record(rows, tag);
            }
        }
        catch (Exception)
        {
        }
    }

    public static void Confirmed(string outbox, OutboxEnvelope row, DateTime confirmedAtUtc)
    {
        try
        {
            PublishDelay.Record(Math.Max(0, (confirmedAtUtc - row.OccurredAt).TotalSeconds), new KeyValuePair<string, object?>(OutboxTag, outbox), new KeyValuePair<string, object?>(ExchangeTag, row.Exchange));
        }
        catch (Exception)
        {
        }
    }

    /// <summary>The latest reading of an outbox, which the gauges report until the next one.</summary>
    public static void Observed(Type context, OutboxBacklog backlog)
    {
        // An exchange whose rows are all gone reports zeros rather than vanishing from the gauges.
        var seen = Backlogs.TryGetValue(context, out var previous) ? previous.Exchanges.Select(e => e.Exchange) : [];
        var gone = seen.Except(backlog.Exchanges.Select(e => e.Exchange), StringComparer.Ordinal).Select(e => new OutboxExchangeBacklog(e, 0, 0, 0, null));
        Backlogs[context] = backlog with { Exchanges = [.. backlog.Exchanges, .. gone] };
    }

    /// <summary>The outbox is no longer read in this process (its monitor stopped): its gauges stop reporting.</summary>
    public static void Forget(Type context) => Backlogs.TryRemove(context, out _);

    private static IEnumerable<Measurement<int>> Measure(Func<OutboxExchangeBacklog, int> value) =>
        Backlogs.SelectMany(b => b.Value.Exchanges.Select(e => new Measurement<int>(value(e), Tags(b.Key, e))));

    // Measured at the scrape, not at the reading: while readings fail (the database is away), the age keeps growing and
    // an alert on it still fires.
    private static IEnumerable<Measurement<double>> MeasureAges()
    {
        var now = DateTime.UtcNow;
        return Backlogs.SelectMany(b => b.Value.Exchanges.Select(e => new Measurement<double>(
            e.OldestPendingOccurredAtUtc is { } oldest && now > oldest ? (now - oldest).TotalSeconds : 0, Tags(b.Key, e))));
    }

    private static TagList Tags(Type context, OutboxExchangeBacklog exchange) => new() { { OutboxTag, context.Name }, { ExchangeTag, exchange.Exchange } };
}
