using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DomainEvents.RelayBenchmarks;

/// <summary>Turns the measurements into the table, the goals and results.json.</summary>
public static class Report
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static void Build(BenchResults results)
    {
        string N(double v, int d = 0) => v.ToString("N" + d.ToString(Invariant), Invariant);

        double Mean(IEnumerable<ThroughputRun> runs, string name)
        {
            var selected = runs.Where(r => r.Name == name).ToList();
            return selected.Count == 0 ? double.NaN : selected.Average(r => r.MessagesPerSecond);
        }

        // floor: the same ratio for the least any outbox does on this machine in the same run, and whether it meets the target.
        // A goal that its floor misses too asks more than an outbox without the relay's guarantees reached in that run.
        void Goal(string name, string figure, string target, double ratio, bool met, string measurement, string ours, string baseline,
            (double Ratio, bool Meets)? floor = null)
        {
            if (!double.IsFinite(ratio))
            {
                results.Table.Add(new Row { Measurement = measurement, Ours = ours, Baseline = baseline, Goal = target, Result = "not measured (see errors)" });
                return;
            }

            var floorRatio = floor is { } f && double.IsFinite(f.Ratio) ? Stats.Round(f.Ratio) : (double?)null;
            var floorMissed = floorRatio is not null && floor?.Meets == false;
            results.Goals.Add(new Goal { Name = name, Figure = figure, Target = target, Ratio = Stats.Round(ratio), Met = met, Floor = floorRatio, FloorMissed = floorMissed });
            results.Table.Add(new Row
            {
                Measurement = measurement,
                Ours = ours,
                Baseline = baseline,
                Ratio = N(ratio, 2),
                Goal = target,
                Result = met ? "met" : floorMissed ? $"MISSED; the floor too ({N(floorRatio!.Value, 2)})" : floorRatio is { } r ? $"MISSED (floor {N(r, 2)})" : "MISSED",
            });
        }

        if (results.Throughput.Count > 0)
        {
            var backlog = N(results.Throughput[0].Messages);
            var relay = Mean(results.Throughput, "relay");
            var mt = Mean(results.Throughput, "masstransit");
            var raw = Mean(results.Throughput, "raw");
            var plain = Mean(results.Throughput, "plain-outbox");
            Goal("relay-vs-masstransit", $"{N(relay)} vs {N(mt)} msg/s", ">= 1.0", relay / mt, relay / mt >= 1.0,
                $"1. Relay throughput, {backlog} backlog vs MassTransit typed Send<T>", $"{N(relay)} msg/s", $"{N(mt)} msg/s", (plain / mt, plain / mt >= 1.0));
            Goal("relay-vs-raw", $"{N(relay)} vs {N(raw)} msg/s", ">= 0.85", relay / raw, relay / raw >= 0.85,
                "1. Relay throughput vs raw RabbitMQ.Client (same bytes)", $"{N(relay)} msg/s", $"{N(raw)} msg/s", (plain / raw, plain / raw >= 0.85));
            // Where the relay's time goes, one part taken away at a time: its transport without the database and the batches;
            // and what the broker pays for the AMQP headers every message of the relay carries (raw sends of the same body
            // without them). MassTransit's typed send here carries no AMQP headers: it sets only those of its send context.
            void Part(string runner, string measurement)
            {
                var figure = Mean(results.Throughput, runner);
                if (double.IsFinite(figure))
                {
                    Recorded(results, measurement, $"{N(figure)} msg/s", $"{N(mt)} / {N(raw)} msg/s", $"{N(figure / mt, 2)} / {N(figure / raw, 2)}");
                }
            }

            // What any outbox does at the least: raw sends of the same bytes, each row read once and marked once. Above
            // this ratio, a goal asks more of the relay than an outbox with none of its guarantees reaches here.
            Part("plain-outbox", "1. Floor: plain outbox (raw sends; each row read once, marked once; no lease, no order) vs MassTransit / raw");
            Part("relay-transport", "1. The relay's transport alone (rows in memory; no claim, mark or lease) vs MassTransit / raw");
            Part("raw-no-headers", "1. Raw RabbitMQ.Client, the same body without the relay's AMQP headers, vs MassTransit / raw");
            Part("masstransit-headers", "1. MassTransit typed Send<T> with the relay's 8 AMQP headers, vs MassTransit / raw");
            Part("plain-outbox-transport", "1. Floor through MassTransit: the plain outbox sending through the relay's transport, vs MassTransit / raw");
            Part("row-lease-outbox-transport", "1. That floor with a lease on each row, as the relay writes it (still no order), vs MassTransit / raw");
            Part("key-lease-outbox-transport", "1. That floor with a lease on each key in a table of keys (still no order), vs MassTransit / raw");
        }

        if (results.Latency.TryGetValue("relay", out var ours) && results.Latency.TryGetValue("masstransit", out var theirs))
        {
            // The measured floor: the same save, then a typed send as soon as it returns, with no relay (LatencyBenchmark.SaveThenSend).
            var least = results.Latency.GetValueOrDefault(LatencyBenchmark.SaveThenSend);
            (double, bool)? Floor(double? figure, double baseline, double target) =>
                figure is { } f ? (f / baseline, f / baseline <= target) : null;
            Goal("latency-p50", $"{N(ours.P50Ms, 2)} vs {N(theirs.P50Ms, 2)} ms", "<= 2.0", ours.P50Ms / theirs.P50Ms, ours.P50Ms / theirs.P50Ms <= 2.0,
                "2. Latency p50, SaveChangesAsync call->consume vs MassTransit Send call->consume", $"{N(ours.P50Ms, 2)} ms", $"{N(theirs.P50Ms, 2)} ms",
                Floor(least?.P50Ms, theirs.P50Ms, 2.0));
            Goal("latency-p99", $"{N(ours.P99Ms, 2)} vs {N(theirs.P99Ms, 2)} ms", "<= 3.0", ours.P99Ms / theirs.P99Ms, ours.P99Ms / theirs.P99Ms <= 3.0,
                "2. Latency p99, same", $"{N(ours.P99Ms, 2)} ms", $"{N(theirs.P99Ms, 2)} ms", Floor(least?.P99Ms, theirs.P99Ms, 3.0));
            // A phase recorded beside the baseline, p50 / p99: the measured floor, and with --experiment lease-floor the relay's
            // lease of the committed row between the save and the send, one at a time, without the relay's loop.
            void Phase(string measurement, LatencySummary? phase)
            {
                if (phase is not null)
                {
                    Recorded(results, measurement, $"{N(phase.P50Ms, 2)} / {N(phase.P99Ms, 2)} ms", $"{N(theirs.P50Ms, 2)} / {N(theirs.P99Ms, 2)} ms",
                        $"{N(phase.P50Ms / theirs.P50Ms, 2)} / {N(phase.P99Ms / theirs.P99Ms, 2)}");
                }
            }

            Phase("2. Floor measured: the same save, then MassTransit Send as it returns (no relay; a crash between loses the event) vs MassTransit, p50 / p99", least);
            Phase("2. The same save, the relay's lease statement one at a time, then MassTransit Send (no relay loop) vs MassTransit, p50 / p99",
                results.Latency.GetValueOrDefault(LatencyBenchmark.SaveLeaseSend));

            if (ours.SaveP50Ms is { } save)
            {
                // The outbox's own write comes before any sending: the event cannot arrive sooner than the save returns plus a
                // send to consume (the baseline's whole path), whatever the relay does.
                results.Table.Add(new Row
                {
                    Measurement = "2. Floor: SaveChangesAsync alone (p50) + MassTransit send->consume (p50) vs MassTransit",
                    Ours = $"{N(save, 2)} + {N(theirs.P50Ms, 2)} ms",
                    Baseline = $"{N(theirs.P50Ms, 2)} ms",
                    Ratio = N((save + theirs.P50Ms) / theirs.P50Ms, 2),
                    Goal = "record",
                    Result = "recorded",
                });
            }
        }

        if (results.Latency.TryGetValue("cross-process-notify", out var crossNotify) && results.Latency.TryGetValue("relay", out var sameProcess))
        {
            Goal("latency-cross-process", $"p50 {N(crossNotify.P50Ms, 2)} vs {N(sameProcess.P50Ms, 2)} ms", "<= 3.0", crossNotify.P50Ms / sameProcess.P50Ms,
                crossNotify.P50Ms / sameProcess.P50Ms <= 3.0,
                "2. Latency p50, row committed by another process with NOTIFY vs the same process", $"{N(crossNotify.P50Ms, 2)} ms", $"{N(sameProcess.P50Ms, 2)} ms");
        }

        var shallow = results.DeepBacklog.FirstOrDefault(r => r.Name == "shallow");
        var deep = results.DeepBacklog.FirstOrDefault(r => r.Name == "deep");
        if (shallow?.Relay is { } shallowRelay && deep?.Relay is { } deepRelay)
        {
            var ratio = deepRelay.ClaimMsMean / shallowRelay.ClaimMsMean;
            Goal("deep-backlog-claim", $"claim mean {N(deepRelay.ClaimMsMean, 1)} vs {N(shallowRelay.ClaimMsMean, 1)} ms; fresh keys {N(deep.MessagesPerSecond)} msg/s", "<= 2.0",
                ratio, ratio <= 2.0,
                $"5. Claim, {N(deep.StuckRows)} stuck rows + {N(deep.Messages)} fresh vs a {N(shallow.Messages)}-row backlog", $"{N(deepRelay.ClaimMsMean, 1)} ms ({N(deep.MessagesPerSecond)} msg/s)",
                $"{N(shallowRelay.ClaimMsMean, 1)} ms ({N(shallow.MessagesPerSecond)} msg/s)");
        }

        if (results.Refusal.Count > 0)
        {
            var alone = Mean(results.Refusal, "alone");
            var beside = Mean(results.Refusal, "with-refused");
            var charged = results.Refusal.Sum(r => r.RefusedAttempts ?? 0);
            Goal("refused-exchange", $"{N(beside)} vs {N(alone)} msg/s; {N(charged)} refused attempts during the drains", ">= 0.8", beside / alone, beside / alone >= 0.8,
                "6. Relay throughput beside an exchange that refuses every publish vs alone", $"{N(beside)} msg/s", $"{N(alone)} msg/s");
        }

        if (results.Ordered.Count > 0)
        {
            var ordered = Mean(results.Ordered, "ordered");
            var off = Mean(results.Ordered, "order-off");
            var breaks = results.Ordered.Where(r => r.Name == "ordered").Sum(r => r.OrderBreaks ?? 0);
            var offBreaks = results.Ordered.Where(r => r.Name == "order-off").Sum(r => r.OrderBreaks ?? 0);
            Goal("ordered-consumer", $"{N(ordered)} vs {N(off)} msg/s; {breaks} order breaks ordered, {offBreaks} with order off", ">= 0.8, 0 breaks", ordered / off,
                ordered / off >= 0.8 && breaks == 0,
                "7. Consumer keeping order per key, 8 at once, 1,000 keys vs order off", $"{N(ordered)} msg/s, {breaks} breaks", $"{N(off)} msg/s, {offBreaks} breaks");
        }

        foreach (var (key, label) in new[] { ("cross-process-notify", "with NOTIFY"), ("cross-process-polling", "without NOTIFY (1 s poll)") })
        {
            if (results.Latency.TryGetValue(key, out var cross))
            {
                results.Table.Add(new Row
                {
                    Measurement = $"2. Latency, row committed by another process, {label}",
                    Ours = $"p50 {N(cross.P50Ms, 1)} / p99 {N(cross.P99Ms, 1)} ms",
                    Baseline = results.Latency.TryGetValue("relay", out var same) ? $"same process: p50 {N(same.P50Ms, 1)} / p99 {N(same.P99Ms, 1)} ms" : "",
                    Result = "recorded",
                });
            }
        }

        foreach (var (key, label) in new[] { ("replicas-own-keys", "keys of their own"), ("replicas-shared-keys", "shared keys") })
        {
            if (results.Latency.TryGetValue(key, out var replicas))
            {
                var c = replicas.Components;
                results.Table.Add(new Row
                {
                    Measurement = $"8. Latency, two replicas each relaying its own commits with NOTIFY, {label}",
                    Ours = $"p50 {N(replicas.P50Ms, 1)} / p99 {N(replicas.P99Ms, 1)} ms; {N(c.GetValueOrDefault("claimsOverTable"))} claims over the table, {N(c.GetValueOrDefault("wakeUpsSent"))} wake-ups",
                    Baseline = results.Latency.TryGetValue("relay", out var same) ? $"one process: p50 {N(same.P50Ms, 1)} / p99 {N(same.P99Ms, 1)} ms" : "",
                    Result = "recorded",
                });
            }
        }

        if (results.Inbox.Count > 0)
        {
            var inbox = Mean(results.Inbox, "inbox");
            var plain = Mean(results.Inbox, "no-inbox");
            var rowInSave = Mean(results.Inbox, InboxBenchmark.RowInSave);
            Goal("inbox-vs-plain", $"{N(inbox)} vs {N(plain)} msg/s; the row in the consumer's own save {N(rowInSave)} msg/s = {N(rowInSave / plain, 2)}", ">= 0.8", inbox / plain, inbox / plain >= 0.8,
                "3. Inbox consumer drain (1 row per message) vs same consumer without inbox", $"{N(inbox)} msg/s", $"{N(plain)} msg/s");
            results.Table.Add(new Row
            {
                Measurement = "3. The inbox row added to the consumer's own save (no duplicate check: not an inbox) vs no inbox",
                Ours = $"{N(rowInSave)} msg/s",
                Baseline = $"{N(plain)} msg/s",
                Ratio = N(rowInSave / plain, 2),
                Goal = "record",
                Result = "recorded",
            });
        }

        if (results.SaveChanges.TryGetValue("with-notify", out var with) && results.SaveChanges.TryGetValue("without-notify", out var without))
        {
            results.Table.Add(new Row
            {
                Measurement = "4. SaveChangesAsync (1 event) with AddPostgresNotifications vs without",
                Ours = $"mean {N(with.MeanMs, 3)} / p50 {N(with.P50Ms, 3)} / p99 {N(with.P99Ms, 3)} ms",
                Baseline = $"mean {N(without.MeanMs, 3)} / p50 {N(without.P50Ms, 3)} / p99 {N(without.P99Ms, 3)} ms",
                Ratio = N(with.MeanMs / without.MeanMs, 2),
                Goal = "record",
                Result = $"+{N((with.MeanMs - without.MeanMs) * 1000, 0)} us/save",
            });
        }
    }

    /// <summary>A row of the table with no goal: a figure recorded beside its baseline.</summary>
    private static void Recorded(BenchResults results, string measurement, string ours, string baseline, string ratio) =>
        results.Table.Add(new Row { Measurement = measurement, Ours = ours, Baseline = baseline, Ratio = ratio, Goal = "record", Result = "recorded" });

    /// <summary>Notes phases during which something else used a lot of CPU (the second processes of measurements 2 and 8 are expected there).</summary>
    public static void NoteOtherLoad(BenchResults results)
    {
        var phases = results.Throughput.Select(r => ($"throughput {r.Name} round {r.Round}", r.Cpu))
            .Concat(results.Latency.Where(l => !l.Key.StartsWith("cross-process", StringComparison.Ordinal) && !l.Key.StartsWith("replicas", StringComparison.Ordinal)).Select(l => ($"latency {l.Key}", l.Value.Cpu)))
            .Concat(results.Inbox.Select(r => ($"inbox {r.Name} round {r.Round}", r.Cpu)))
            .Concat(results.SaveChanges.Take(1).Select(l => ("NOTIFY cost", l.Value.Cpu)));
        foreach (var (phase, cpu) in phases)
        {
            if (cpu is { Other: > 20 })
            {
                results.Notes.Add($"Other load on the machine during {phase}: {cpu.Other}% of a core used by processes that are not ours, the broker or PostgreSQL.");
            }
        }
    }

    public static string Table(BenchResults results)
    {
        var headers = new[] { "Measurement", "Ours", "Baseline", "Ratio", "Goal", "Result" };
        var rows = results.Table.Select(r => new[] { r.Measurement, r.Ours, r.Baseline, r.Ratio, r.Goal, r.Result }).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        void Line(string[] cells) => text.AppendLine("| " + string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))) + " |");
        Line(headers);
        text.AppendLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
        foreach (var row in rows)
        {
            Line(row);
        }

        return text.ToString();
    }

    /// <param name="results">The run.</param>
    /// <param name="repositoryRoot">Where DomainEvents.sln is.</param>
    /// <param name="variant">For a partial or experimental run, a suffix, so it does not replace the report's results.json.</param>
    public static string WriteJson(BenchResults results, string repositoryRoot, string? variant = null)
    {
        var directory = Path.Combine(repositoryRoot, "artifacts", "bench");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, variant is null ? "results.json" : $"results-{variant}.json");
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            WriteIndented = true,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(results, options));
        return path;
    }

    public static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "DomainEvents.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new InvalidOperationException("Could not find DomainEvents.sln above the working directory or the program; run from inside the repository.");
    }
}
