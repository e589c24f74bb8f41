using System.Globalization;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 8: the producing service deployed twice. Two real processes save orders on the same database, each at half
/// of measurement 2's rate, and each runs its own relay with PostgreSQL notifications; this process only consumes. A
/// process whose own relay takes its rows sends no NOTIFY for them; a relay that could not lease a row of its process's
/// commit because the other replica's relay was sending the row's key wakes the other relays, once that key is still not
/// its own to take. The measurement runs twice: each replica with keys of its own (no key is ever busy in the other
/// process), then with keys the replicas share, so that rows wait behind the other replica's sends. Latency is from the
/// save's call in a replica to Consume here, both on CLOCK_MONOTONIC. Recorded beside measurement 2's same-process relay;
/// no goal of the issue is set on it.
/// </summary>
public static class ReplicasBenchmark
{
    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        var exchange = environment.Exchange("replicas");
        var queue = environment.Queue("replicas-consumer", massTransitEndpoint: true);
        var recorder = new ArrivalRecorder();
        await using var consumers = await BenchHost.StartAsync(new HostSpec
        {
            Environment = environment,
            Exchange = exchange,
            Services = s => s.AddSingleton(recorder),
            Consumers = x => x.AddIntegrationEventConsumer<KeyedLatencyConsumer>(c =>
            {
                c.Bind(exchange, "#");
                c.QueueName = queue;
                c.KeepOrder = false;
            }),
        });
        foreach (var shared in new[] { false, true })
        {
            await LatencyBenchmark.FreshOutboxAsync(environment);
            var (summary, counters) = await RunReplicasAsync(environment, sizes, exchange, recorder, shared);
            var name = shared ? "replicas-shared-keys" : "replicas-own-keys";
            results.Latency[name] = summary;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {(shared ? $"shared keys ({sizes.ReplicaKeys})" : $"own keys ({sizes.ReplicaKeys} each)"),-22} p50 {summary.P50Ms,7:N2} ms  p90 {summary.P90Ms,7:N2}  p99 {summary.P99Ms,7:N2}  max {summary.MaxMs,8:N2}  ({summary.Count}/{summary.Sent} at {summary.RatePerSecond:N0}/s; CPU {summary.Cpu})"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    both relays: {counters.ClaimsOverTable} claims over the table ({counters.ClaimsThatFoundBusyKeys} found a key of their own busy), {counters.PollsWithoutClaim} polls without a claim, {counters.WakeUpsSent} wake-ups sent, {counters.Notifies} NOTIFY sent in all"));
            Console.WriteLine("    by replica: " + string.Join(", ", summary.Components.Where(c => c.Key.StartsWith("replica", StringComparison.Ordinal)).Select(c => $"{c.Key} {c.Value:N2}")));
            if (results.Latency.TryGetValue("relay", out var oneProcess) && oneProcess.P50Ms > 0 && oneProcess.P99Ms > 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    against one process relaying its own commits at the same total rate (measurement 2): p50 {summary.P50Ms / oneProcess.P50Ms:N2}x, p99 {summary.P99Ms / oneProcess.P99Ms:N2}x"));
            }
        }
    }

    private static async Task<(LatencySummary Summary, RelayCounters Counters)> RunReplicasAsync(BenchEnvironment environment, Sizes sizes, string exchange, ArrivalRecorder recorder, bool shared)
    {
        var names = new[] { "a", "b" };
        var replicas = new List<ChildProcess>(names.Length);
        try
        {
            foreach (var name in names)
            {
                replicas.Add(ChildProcess.Start(
                    [
                        "--replica", name, "--exchange", exchange,
                        "--keys", sizes.ReplicaKeys.ToString(CultureInfo.InvariantCulture), "--shared", shared ? "true" : "false",
                        "--rate", (sizes.LatencyRate / names.Length).ToString(CultureInfo.InvariantCulture),
                        "--warmup", sizes.LatencyWarmupSeconds.ToString(CultureInfo.InvariantCulture),
                        "--seconds", sizes.ReplicaSeconds.ToString(CultureInfo.InvariantCulture),
                        .. ChildProcess.ExperimentArguments,
                    ],
                    new Dictionary<string, string>
                    {
                        [Replica.RunIdVariable] = environment.RunId,
                        [Writer.ConnectionVariable] = environment.ShopConnectionString,
                    }));
            }

            // Both warmed before either loop starts, so that both run through the whole measured window.
            await Task.WhenAll(replicas.Select(r => r.ReadUntilAsync("READY", TimeSpan.FromSeconds(120))));
            await Task.WhenAll(replicas.Select(r => r.WriteLineAsync("GO")));
            var outputs = await Task.WhenAll(replicas.Select(r => r.ReadUntilAsync("DONE", TimeSpan.FromSeconds(sizes.LatencyWarmupSeconds + sizes.ReplicaSeconds + 120))));
            var runs = outputs.Select(Writer.Parse).ToArray();

            // What both relays did in the measured window (from its start until the replica's last save of it returned).
            var counters = outputs
                .Select(lines => JsonSerializer.Deserialize<RelayCounters>(lines.Single(l => l.StartsWith("COUNTERS ", StringComparison.Ordinal))["COUNTERS ".Length..])!)
                .Aggregate((a, b) => a + b);

            // Each replica keeps relaying until every event of both has arrived (or 30 s have passed).
            await recorder.WaitForAsync(runs.SelectMany(r => r.Commits.Select(c => c.Id)), TimeSpan.FromSeconds(30));
            await Task.WhenAll(replicas.Select(r => r.WriteLineAsync("STOP")));
            await Task.WhenAll(replicas.Select(r => r.ReadUntilAsync("END", TimeSpan.FromSeconds(30))));

            var all = new List<double>();
            var components = new Dictionary<string, double>();
            for (var i = 0; i < runs.Length; i++)
            {
                var latencies = runs[i].Commits
                    .Where(c => recorder.TryGet(c.Id, out _))
                    .Select(c => Stats.Milliseconds(c.Timestamp, recorder.TryGet(c.Id, out var arrival) ? arrival.Timestamp : 0))
                    .ToList();
                all.AddRange(latencies);
                components[$"replica{names[i].ToUpperInvariant()}P50Ms"] = Stats.Round(Stats.Percentile(latencies, 50));
                components[$"replica{names[i].ToUpperInvariant()}P99Ms"] = Stats.Round(Stats.Percentile(latencies, 99));

                // A method a replica compiles in the measured window stalls its relay for that long (tiered compilation is off).
                components[$"replica{names[i].ToUpperInvariant()}JitMethods"] = runs[i].Cpu?.JitMethods ?? 0;
                components[$"replica{names[i].ToUpperInvariant()}CpuPercent"] = runs[i].Cpu?.Benchmark ?? 0;
            }

            components["claimsOverTable"] = counters.ClaimsOverTable;
            components["claimsThatFoundBusyKeys"] = counters.ClaimsThatFoundBusyKeys;
            components["pollsWithoutClaim"] = counters.PollsWithoutClaim;
            components["wakeUpsSent"] = counters.WakeUpsSent;
            components["notifies"] = counters.Notifies;
            var sent = runs.Sum(r => r.Commits.Count);
            var summary = Stats.Summarize(all, sent, sent / Math.Max(runs.Sum(r => r.Rate), 1e-9));
            // The machine as replica A measured it over its window, with both replicas as "benchmark" (this process, which only
            // consumes, is in "other").
            if (runs is [{ Cpu: { } a }, { Cpu: { } b }])
            {
                summary.Cpu = a with { Benchmark = a.Benchmark + b.Benchmark, Other = Math.Max(0, a.Other - b.Benchmark) };
            }

            summary.Components = components;
            return (summary, counters);
        }
        finally
        {
            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }
    }
}
