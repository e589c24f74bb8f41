using System.Diagnostics;

namespace DomainEvents.RelayBenchmarks;

public static class Stats
{
    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = percentile / 100.0 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }

    public static double Milliseconds(long fromTimestamp, long toTimestamp) => (toTimestamp - fromTimestamp) * 1000.0 / Stopwatch.Frequency;

    public static double Round(double value, int decimals = 2) => double.IsFinite(value) ? Math.Round(value, decimals) : value;

    /// <summary>Summarizes latencies; a negative one means the two ends were not stamped on one clock, and is refused.</summary>
    public static LatencySummary Summarize(IReadOnlyList<double> milliseconds, int sent, double seconds) => milliseconds.Any(m => m < 0)
        ? throw new InvalidOperationException($"{milliseconds.Count(m => m < 0)} latencies are negative (as low as {milliseconds.Min():N2} ms): the two ends were not stamped on one clock.")
        : new()
    {
        Count = milliseconds.Count,
        Sent = sent,
        RatePerSecond = Round(sent / Math.Max(seconds, 1e-9), 1),
        P50Ms = Round(Percentile(milliseconds, 50)),
        P90Ms = Round(Percentile(milliseconds, 90)),
        P99Ms = Round(Percentile(milliseconds, 99)),
        MaxMs = Round(milliseconds.Count == 0 ? double.NaN : milliseconds.Max()),
        MeanMs = Round(milliseconds.Count == 0 ? double.NaN : milliseconds.Average()),
    };
}

public sealed class LatencySummary
{
    public int Count { get; init; }

    /// <summary>Events sent in the measured window (a shortfall against Count means some never arrived).</summary>
    public int Sent { get; init; }

    public double RatePerSecond { get; init; }

    public double P50Ms { get; init; }

    public double P90Ms { get; init; }

    public double P99Ms { get; init; }

    public double MaxMs { get; init; }

    public double MeanMs { get; init; }

    public CpuUsage? Cpu { get; set; }

    /// <summary>For the relay: its SQL over the measured window, as traced by Npgsql.</summary>
    public RelayBreakdown? Relay { get; set; }

    /// <summary>For the relay: the latency split at the claim that returned each event.</summary>
    public Dictionary<string, double> Components { get; set; } = [];

    /// <summary>How long SaveChangesAsync took (writer side), where the writer is timed.</summary>
    public double? SaveP50Ms { get; set; }
}

public sealed class ThroughputRun
{
    public required string Name { get; init; }

    public int Round { get; init; }

    public int Messages { get; init; }

    public double Seconds { get; init; }

    public double MessagesPerSecond => Stats.Round(Messages / Seconds, 0);

    public CpuUsage? Cpu { get; init; }

    /// <summary>For the relay: where the time went, from its SQL as traced by Npgsql.</summary>
    public RelayBreakdown? Relay { get; init; }

    /// <summary>Measurement 6: attempts charged to the refused exchange's rows during the drain.</summary>
    public long? RefusedAttempts { get; init; }

    /// <summary>Measurement 7: messages of a key that started before the previous message of their key ended.</summary>
    public int? OrderBreaks { get; init; }

    /// <summary>Measurement 7: the most messages handled at once.</summary>
    public int? PeakConcurrency { get; init; }
}

public sealed class RelayBreakdown
{
    public int Claims { get; init; }

    /// <summary>Claims that searched the table; the others leased rows that commits of the relay's process handed over.</summary>
    public int ClaimsOverTable { get; init; }

    /// <summary>The mean time of a claim over the table, from the relay's call to its last row read.</summary>
    public double ClaimOverTableMsMean { get; init; }

    /// <summary>The longest claim over the table.</summary>
    public double ClaimOverTableMsMax { get; init; }

    /// <summary>Polls that asked whether a claim over the table could find anything (a claim followed only when it could).</summary>
    public int PollQuestions { get; init; }

    /// <summary>The mean time of a poll's question.</summary>
    public double PollQuestionMsMean { get; init; }

    /// <summary>The longest poll's question.</summary>
    public double PollQuestionMsMax { get; init; }

    public double RowsPerClaim { get; init; }

    public double ClaimMsMean { get; init; }

    public double ClaimMsMax { get; init; }

    public double ClaimSeconds { get; init; }

    public int Marks { get; init; }

    public double MarkMsMean { get; init; }

    public double MarkSeconds { get; init; }

    /// <summary>Elapsed time minus the time in claims and marks. The relay overlaps those with sending, so this is only a lower bound of the sending time.</summary>
    public double SendSeconds { get; init; }

    /// <summary>Messages over <see cref="SendSeconds"/>: an upper bound, since sending overlaps the SQL.</summary>
    public double SendPhaseMessagesPerSecond { get; init; }
}

public sealed class Goal
{
    public required string Name { get; init; }

    public required string Figure { get; init; }

    public required string Target { get; init; }

    public double Ratio { get; init; }

    public bool Met { get; init; }

    /// <summary>The same ratio for the least any outbox does here, measured in the same run (null where none is measured).</summary>
    public double? Floor { get; init; }

    /// <summary>The floor misses the target too: in this run, an outbox without the relay's guarantees did not reach it either.</summary>
    public bool FloorMissed { get; init; }
}

public sealed class Row
{
    public required string Measurement { get; init; }

    public required string Ours { get; init; }

    public required string Baseline { get; init; }

    public string Ratio { get; init; } = "";

    public string Goal { get; init; } = "";

    public string Result { get; init; } = "";
}

public sealed class BenchResults
{
    public DateTime StartedAt { get; init; } = DateTime.UtcNow;

    public double TotalSeconds { get; set; }

    public bool Quick { get; init; }

    public Dictionary<string, string> Machine { get; init; } = [];

    public Dictionary<string, string> Postgres { get; set; } = [];

    public Dictionary<string, string> RabbitMq { get; set; } = [];

    public Dictionary<string, object> Settings { get; init; } = [];

    public CpuUsage? IdleBefore { get; set; }

    public List<ThroughputRun> Throughput { get; } = [];

    public Dictionary<string, LatencySummary> Latency { get; } = [];

    public List<ThroughputRun> Inbox { get; } = [];

    /// <summary>Measurement 5: the relay draining a 50,000-row backlog, then fresh keys behind a deep stuck backlog.</summary>
    public List<DeepBacklogRun> DeepBacklog { get; } = [];

    /// <summary>Measurement 6: the relay draining a backlog alone and while an exchange refuses every publish.</summary>
    public List<ThroughputRun> Refusal { get; } = [];

    /// <summary>Measurement 7: the ordered consumer and the same consumer with order off.</summary>
    public List<ThroughputRun> Ordered { get; } = [];

    /// <summary>SQL commands per message in the inbox warm-up drains, by the start of their text.</summary>
    public Dictionary<string, Dictionary<string, double>> InboxCommandsPerMessage { get; } = [];

    public Dictionary<string, LatencySummary> SaveChanges { get; } = [];

    public List<Row> Table { get; } = [];

    public List<Goal> Goals { get; } = [];

    public List<string> Notes { get; } = [];

    public List<string> Errors { get; } = [];
}

public sealed class DeepBacklogRun
{
    public required string Name { get; init; }

    /// <summary>Pending rows that the relay cannot send (keys whose heads back off).</summary>
    public int StuckRows { get; init; }

    /// <summary>Rows the relay sent and marked.</summary>
    public int Messages { get; init; }

    public double Seconds { get; init; }

    public double MessagesPerSecond => Stats.Round(Messages / Seconds, 0);

    public CpuUsage? Cpu { get; init; }

    public RelayBreakdown? Relay { get; init; }
}
