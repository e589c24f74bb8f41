using System.Diagnostics;
using System.Globalization;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 2: latency at a steady rate, open loop (each event starts on its schedule whether or not the previous
/// one has finished). Ours: commit (SaveChangesAsync returned) to the integration event consumer's Consume. Baseline:
/// a typed MassTransit send to a plain consumer, from the call to Consume. Then a row committed by another process.
/// </summary>
public static class LatencyBenchmark
{
    /// <summary>The floor of any outbox in the relay's process: the same save (order and outbox row), then a typed send.</summary>
    public const string SaveThenSend = "save-then-send";

    /// <summary>
    /// --experiment lease-floor: the same save, the relay's own lease of the committed row (its statement for rows handed over
    /// by a commit, one round trip, one at a time), then a typed send.
    /// </summary>
    public const string SaveLeaseSend = "save-lease-send";

    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        await FreshOutboxAsync(environment);
        results.Latency["relay"] = await RelayAsync(environment, sizes);
        Print("relay: save call to consume", results.Latency["relay"]);
        if (results.Latency["relay"].Relay is { } relay)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    relay: {relay.Claims} claims ({relay.ClaimsOverTable} over the table, mean {relay.ClaimOverTableMsMean:N2} ms, max {relay.ClaimOverTableMsMax:N1}; {relay.PollQuestions} polls asked first, mean {relay.PollQuestionMsMean:N2} ms, max {relay.PollQuestionMsMax:N1}), {relay.Marks} batches of {relay.RowsPerClaim:N1} rows; claim mean {relay.ClaimMsMean:N2} ms (max {relay.ClaimMsMax:N1}), mark mean {relay.MarkMsMean:N2} ms; SaveChangesAsync p50 {results.Latency["relay"].SaveP50Ms:N2} ms"));
            Console.WriteLine("    p50/p99 of each part: " + string.Join(", ", results.Latency["relay"].Components.Select(c => $"{c.Key} {c.Value:N2}")));
        }
        results.Latency["masstransit"] = await MassTransitAsync(environment, sizes);
        Print("MassTransit: send to consume", results.Latency["masstransit"]);
        await FreshOutboxAsync(environment);
        results.Latency[SaveThenSend] = await SaveThenSendAsync(environment, sizes);
        PrintWithParts("floor: save, then send; no relay", results.Latency[SaveThenSend]);
        if (Experiments.LeaseFloor)
        {
            await FreshOutboxAsync(environment);
            results.Latency[SaveLeaseSend] = await SaveLeaseThenSendAsync(environment, sizes);
            PrintWithParts("save, lease, send; no relay loop", results.Latency[SaveLeaseSend]);
        }

        var exchange = environment.Exchange("cross");
        var queue = environment.Queue("cross-consumer", massTransitEndpoint: true);
        var recorder = new ArrivalRecorder();
        await using var relayHost = await BenchHost.StartAsync(new HostSpec
        {
            Environment = environment,
            Exchange = exchange,
            Outbox = true,
            Relay = true,
            Notifications = true,
            Services = s => s.AddSingleton(recorder),
            Consumers = x => x.AddIntegrationEventConsumer<LatencyConsumer>(c =>
            {
                c.Bind(exchange, "#");
                c.QueueName = queue;
                c.KeepOrder = false;
            }),
        });
        await FreshOutboxAsync(environment);
        foreach (var notify in new[] { true, false })
        {
            var seconds = notify ? sizes.CrossProcessSeconds : sizes.CrossProcessPollingSeconds;
            var summary = await CrossProcessAsync(environment, sizes, exchange, recorder, notify, seconds);
            var name = notify ? "cross-process-notify" : "cross-process-polling";
            results.Latency[name] = summary;
            Print(notify ? "another process, with NOTIFY" : "another process, polling (1 s)", summary);
            Console.WriteLine("    p50/p90/p99 of each part: " + string.Join(", ", summary.Components.Select(c => $"{c.Key} {c.Value:N2}")));
        }
    }

    /// <summary>
    /// Starts a latency measurement on an empty outbox with fresh statistics. Right after measurement 1 the table holds
    /// 50,000 processed rows whose statistics still say "pending" until autovacuum analyzes it; the relay's claim then
    /// walks every processed row (see docs/benchmarks-relay.md). --experiment stale-stats keeps that state, to show it.
    /// </summary>
    internal static async Task FreshOutboxAsync(BenchEnvironment environment)
    {
        if (!Experiments.StaleStatistics)
        {
            await environment.ExecuteAsync("TRUNCATE outbox_messages, orders");
            await environment.ExecuteAsync("ANALYZE outbox_messages, orders");
        }
    }

    private static void PrintWithParts(string what, LatencySummary s)
    {
        Print(what, s);
        Console.WriteLine("    p50/p99 of each part: " + string.Join(", ", s.Components.Select(c => $"{c.Key} {c.Value:N2}")));
    }

    private static void Print(string what, LatencySummary s) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {what,-34} p50 {s.P50Ms,7:N2} ms  p90 {s.P90Ms,7:N2}  p99 {s.P99Ms,7:N2}  max {s.MaxMs,8:N2}  ({s.Count}/{s.Sent} at {s.RatePerSecond:N0}/s; CPU {s.Cpu})"));

    private static async Task<LatencySummary> RelayAsync(BenchEnvironment environment, Sizes sizes)
    {
        var exchange = environment.Exchange("latency");
        var queue = environment.Queue("latency-consumer", massTransitEndpoint: true);
        var recorder = new ArrivalRecorder();
        await using var host = await BenchHost.StartAsync(new HostSpec
        {
            Environment = environment,
            Exchange = exchange,
            Outbox = true,
            Relay = true,
            Services = s => s.AddSingleton(recorder),
            Consumers = x => x.AddIntegrationEventConsumer<LatencyConsumer>(c =>
            {
                c.Bind(exchange, "#");
                c.QueueName = queue;
                c.KeepOrder = false;
            }),
        });
        var scopes = host.Services.GetRequiredService<IServiceScopeFactory>();
        using var trace = new RelayStatementTrace();
        await OrderSaves.PreWarmAsync(scopes);
        var run = await OpenLoop.RunAsync(sizes.LatencyRate, sizes.LatencyWarmupSeconds, sizes.LatencySeconds, i => OrderSaves.SaveAsync(scopes, i));
        // From the call: the moment SaveChangesAsync is seen to return can come after the consumer has the message (this
        // process's continuation may run late), so only the call is sure to come before the arrival, as for the baseline's Send.
        var summary = await SummarizeAsync(recorder, run, s => (s.Id, s.Before));
        var all = trace.Take();
        var statements = all.Where(s => s.StartTimestamp >= run.MeasuredStart && s.StartTimestamp <= run.MeasuredEnd).ToList();
        summary.Relay = ThroughputBenchmark.Breakdown(statements, run.Measured.Count, run.MeasuredSeconds);
        summary.Components = Decompose(all, recorder, run.Measured.Select(s => (s.Id, s.Before, s.Returned)));
        summary.SaveP50Ms = Stats.Round(Stats.Percentile(run.Measured.Select(s => Stats.Milliseconds(s.Before, s.Returned)).ToList(), 50));
        return summary;
    }

    /// <summary>
    /// Splits each event's latency at the relay's lease that sent it: the last one to end before the arrival, if it began after
    /// the save returned (every part then is a positive time): commit to the lease's start (waiting for the relay's current
    /// round to end, or for its wake-up), the lease itself, and the lease's end to Consume. An event with no such lease was
    /// leased by a lease that began while its save was returning: only its save's call to Consume is counted, as "leased
    /// before return".
    /// </summary>
    private static Dictionary<string, double> Decompose(IReadOnlyList<RelayStatementTrace.Statement> statements, ArrivalRecorder recorder, IEnumerable<(Guid Id, long Called, long Committed)> events)
    {
        var claims = statements.Where(s => s.Kind == RelayStatementTrace.Kind.Claim)
            .Select(s => (Start: s.StartTimestamp, End: s.StartTimestamp + (long)(s.Duration.TotalSeconds * Stopwatch.Frequency)))
            .OrderBy(c => c.End)
            .ToArray();
        var ends = claims.Select(c => c.End).ToArray();
        var wait = new List<double>();
        var claim = new List<double>();
        var deliver = new List<double>();
        var leasedBefore = new List<double>();
        foreach (var (id, called, committed) in events)
        {
            if (!recorder.TryGet(id, out var arrival))
            {
                continue;
            }

            var index = Array.BinarySearch(ends, arrival.Timestamp);
            index = index >= 0 ? index : ~index - 1;
            if (index < 0 || claims[index].Start < committed)
            {
                leasedBefore.Add(Stats.Milliseconds(called, arrival.Timestamp));
                continue;
            }

            var (start, end) = claims[index];
            wait.Add(Stats.Milliseconds(committed, start));
            claim.Add(Stats.Milliseconds(start, end));
            deliver.Add(Stats.Milliseconds(end, arrival.Timestamp));
        }

        var parts = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["leasedBeforeReturn"] = leasedBefore.Count,
            ["leasedAfterReturn"] = wait.Count,
        };
        foreach (var (name, values) in new[] { ("callToConsumeLeasedBefore", leasedBefore), ("commitToClaimStart", wait), ("claim", claim), ("claimEndToConsume", deliver) })
        {
            // A part with no event has no percentile (and NaN has no place in the results).
            if (values.Count > 0)
            {
                parts[name + "P50Ms"] = Stats.Round(Stats.Percentile(values, 50));
                parts[name + "P99Ms"] = Stats.Round(Stats.Percentile(values, 99));
            }
        }

        return parts;
    }

    private static async Task<LatencySummary> MassTransitAsync(BenchEnvironment environment, Sizes sizes)
    {
        var exchange = environment.Exchange("latency-mt");
        var recorder = new ArrivalRecorder();
        await using var host = await StartPlainConsumerAsync(environment, exchange, "latency-mt-consumer", recorder, outbox: false);
        var endpoint = await host.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{exchange}?type=topic"));
        var run = await OpenLoop.RunAsync(sizes.LatencyRate, sizes.LatencyWarmupSeconds, sizes.LatencySeconds, async i =>
        {
            var message = Payloads.Create(Guid.CreateVersion7(), i);
            var before = Stopwatch.GetTimestamp();
            await endpoint.Send(message, context => context.SetRoutingKey(ThroughputBenchmark.RoutingKey));
            return (Id: message.OrderId, Before: before);
        });
        return await SummarizeAsync(recorder, run, s => (s.Id, s.Before));
    }

    /// <summary>
    /// The least any outbox does between a save in this process and the consumer, measured on the same machine at the same
    /// rate: the save of measurement 2 (the order and its outbox row, through the interceptor), and as soon as it returns a
    /// MassTransit typed send of the event, as the baseline sends it. No relay runs, so the row is never leased, sent from
    /// the table or marked: this is an outbox without the relay's guarantees (a crash between the commit and the send loses
    /// the event). Latency is from the save's call to Consume, as for the relay.
    /// </summary>
    private static async Task<LatencySummary> SaveThenSendAsync(BenchEnvironment environment, Sizes sizes)
    {
        var (host, recorder, scopes, endpoint) = await StartFloorAsync(environment, "latency-floor");
        await using var _ = host;
        var run = await OpenLoop.RunAsync(sizes.LatencyRate, sizes.LatencyWarmupSeconds, sizes.LatencySeconds, async i =>
        {
            var saved = await OrderSaves.SaveAsync(scopes, i);
            await endpoint.Send(Payloads.Create(saved.Id, i), context => context.SetRoutingKey(ThroughputBenchmark.RoutingKey));
            return (saved.Id, saved.Before, saved.Returned, Sent: Stopwatch.GetTimestamp());
        });
        return await SummarizeFloorAsync(recorder, run, s => (s.Id, s.Before, s.Returned, s.Returned, s.Returned, s.Sent));
    }

    /// <summary>
    /// <see cref="SaveThenSendAsync"/> with the lease that a relay keeping order per key does between a commit and its send:
    /// after the save, the relay's own statement for rows handed over by a commit (<c>ClaimCommittedAsync</c>: the claims'
    /// lock, the key's checks, the lease), then the typed send, then the mark, off the measured path. Leases take turns on one
    /// warm connection (they take turns on the claims' lock anyway), marks on another: a connection per event opened new
    /// backends, whose first statements are slow here, and queued seconds. No relay runs, so nothing else claims, polls or
    /// batches commits together. Every order is a key of its own, so every row is leased (one that is not is counted).
    /// </summary>
    private static async Task<LatencySummary> SaveLeaseThenSendAsync(BenchEnvironment environment, Sizes sizes)
    {
        var (host, recorder, scopes, endpoint) = await StartFloorAsync(environment, "latency-leased-floor");
        await using var _ = host;
        await using var connection = new NpgsqlConnection(environment.ShopConnectionString);
        await connection.OpenAsync();
        await using var marks = new NpgsqlConnection(environment.ShopConnectionString);
        await marks.OpenAsync();
        const string owner = "relaybench-floor/1";
        IOutboxRelayStatements? statements = null;
        var notLeased = 0;
        using var oneAtATime = new SemaphoreSlim(1, 1);
        using var marksOneAtATime = new SemaphoreSlim(1, 1);
        var run = await OpenLoop.RunAsync(sizes.LatencyRate, sizes.LatencyWarmupSeconds, sizes.LatencySeconds, async i =>
        {
            var (saved, (leaseStart, leasedAt, leased)) = await OrderSaves.SaveAsync(scopes, i, async db =>
            {
                statements ??= RelayTable.BuiltIn(db)!;
                var rows = db.ChangeTracker.Entries<OutboxMessage>().Select(e => e.Entity)
                    .Select(m => new OutboxEnvelope(m.Id, m.MessageId, m.MessageType, m.Version, m.Exchange, m.RoutingKey, m.PartitionKey, m.Payload, m.Headers, m.OccurredAt, m.Attempts))
                    .ToList();
                await oneAtATime.WaitAsync();
                var start = Stopwatch.GetTimestamp();
                try
                {
                    var taken = await statements.ClaimCommittedAsync(connection, new OutboxClaimRequest(owner, "relaybench-floor/", rows.Count, DateTime.UtcNow, TimeSpan.FromSeconds(30)), rows, CancellationToken.None);
                    if (taken.Count != rows.Count)
                    {
                        Interlocked.Increment(ref notLeased);
                    }

                    return (start, Stopwatch.GetTimestamp(), taken);
                }
                finally
                {
                    oneAtATime.Release();
                }
            });

            await endpoint.Send(Payloads.Create(saved.Id, i), context => context.SetRoutingKey(ThroughputBenchmark.RoutingKey));
            var sent = Stopwatch.GetTimestamp();
            await marksOneAtATime.WaitAsync();
            try
            {
                await statements!.MarkProcessedAsync(marks, owner, [.. leased.Select(l => l.Id)], DateTime.UtcNow, CancellationToken.None);
            }
            finally
            {
                marksOneAtATime.Release();
            }

            return (saved.Id, saved.Before, saved.Returned, LeaseStart: leaseStart, Leased: leasedAt, Sent: sent);
        });
        var summary = await SummarizeFloorAsync(recorder, run, s => (s.Id, s.Before, s.Returned, s.LeaseStart, s.Leased, s.Sent));
        summary.Components["notLeased"] = notLeased;
        return summary;
    }

    /// <summary>
    /// A floor's latency from the save's call to Consume, and where the time goes: the save, the wait for the lease's turn and
    /// the lease statement (none in the plain floor), the Send call (to the broker's confirm), and from the save's return to
    /// Consume. The parts do not add up to the whole: the consumer can have the message before the Send call is seen to return.
    /// </summary>
    private static async Task<LatencySummary> SummarizeFloorAsync<T>(ArrivalRecorder recorder, OpenLoop.Run<T> run, Func<T, (Guid Id, long Before, long Returned, long LeaseStart, long Leased, long Sent)> select)
    {
        var measured = run.Measured.Select(select).ToList();
        var summary = await SummarizeAsync(recorder, run, s =>
        {
            var m = select(s);
            return (m.Id, m.Before);
        });
        summary.SaveP50Ms = Stats.Round(Stats.Percentile(measured.Select(s => Stats.Milliseconds(s.Before, s.Returned)).ToList(), 50));
        var afterSave = new List<double>(measured.Count);
        foreach (var s in measured)
        {
            if (recorder.TryGet(s.Id, out var arrival))
            {
                afterSave.Add(Math.Max(0, Stats.Milliseconds(s.Returned, arrival.Timestamp)));
            }
        }

        var parts = new List<(string Name, List<double> Values)>
        {
            ("save", measured.Select(s => Stats.Milliseconds(s.Before, s.Returned)).ToList()),
            ("send", measured.Select(s => Stats.Milliseconds(s.Leased, s.Sent)).ToList()),
            ("returnToConsume", afterSave),
        };
        if (measured.Any(s => s.Leased != s.Returned))
        {
            parts.Insert(1, ("leaseWait", measured.Select(s => Stats.Milliseconds(s.Returned, s.LeaseStart)).ToList()));
            parts.Insert(2, ("lease", measured.Select(s => Stats.Milliseconds(s.LeaseStart, s.Leased)).ToList()));
        }

        foreach (var (part, values) in parts)
        {
            foreach (var p in new[] { 50, 99 })
            {
                summary.Components[$"{part}P{p}Ms"] = Stats.Round(Stats.Percentile(values, p));
            }
        }

        return summary;
    }

    /// <summary>
    /// A floor's host: a plain consumer bound to a fresh exchange named after <paramref name="purpose"/>, saving orders
    /// through the outbox, its send endpoint, and its first saves made (<see cref="OrderSaves.PreWarmAsync"/>).
    /// </summary>
    private static async Task<(BenchHost Host, ArrivalRecorder Recorder, IServiceScopeFactory Scopes, ISendEndpoint Endpoint)> StartFloorAsync(BenchEnvironment environment, string purpose)
    {
        var exchange = environment.Exchange(purpose);
        var recorder = new ArrivalRecorder();
        var host = await StartPlainConsumerAsync(environment, exchange, purpose + "-consumer", recorder, outbox: true);
        var scopes = host.Services.GetRequiredService<IServiceScopeFactory>();
        var endpoint = await host.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{exchange}?type=topic"));
        await OrderSaves.PreWarmAsync(scopes);
        return (host, recorder, scopes, endpoint);
    }

    /// <summary>A host with a plain MassTransit consumer bound to <paramref name="exchange"/>; with the outbox, it saves orders too.</summary>
    private static Task<BenchHost> StartPlainConsumerAsync(BenchEnvironment environment, string exchange, string queueName, ArrivalRecorder recorder, bool outbox)
    {
        var queue = environment.Queue(queueName, massTransitEndpoint: true);
        return BenchHost.StartAsync(new HostSpec
        {
            Environment = environment,
            Exchange = outbox ? exchange : null,
            Outbox = outbox,
            Services = s => s.AddSingleton(recorder),
            Consumers = x => x.AddConsumer<LatencyConsumer>(),
            ConfigureBus = (cfg, context) => cfg.ReceiveEndpoint(queue, e =>
            {
                e.ConfigureConsumeTopology = false;
                e.Bind(exchange, b =>
                {
                    b.ExchangeType = "topic";
                    b.RoutingKey = "#";
                });
                e.ConfigureConsumer<LatencyConsumer>(context);
            }),
        });
    }

    private static async Task<LatencySummary> SummarizeAsync<T>(ArrivalRecorder recorder, OpenLoop.Run<T> run, Func<T, (Guid Id, long From)> select)
    {
        var measured = run.Measured.Select(select).ToList();
        await recorder.WaitForAsync(measured.Select(m => m.Id), TimeSpan.FromSeconds(30));
        var latencies = new List<double>(measured.Count);
        foreach (var (id, from) in measured)
        {
            if (recorder.TryGet(id, out var arrival))
            {
                latencies.Add(Stats.Milliseconds(from, arrival.Timestamp));
            }
        }

        var summary = Stats.Summarize(latencies, measured.Count, run.MeasuredSeconds);
        summary.Cpu = run.Cpu;
        return summary;
    }

    /// <summary>
    /// A real second process (this program with --writer) commits orders at the rate; this process's relay host
    /// (AddPostgresNotifications, listening) relays them to its consumer. Latency is from the writer's commit to Consume,
    /// both stamped with Stopwatch timestamps, which on Linux are CLOCK_MONOTONIC: one clock for every process.
    /// </summary>
    private static async Task<LatencySummary> CrossProcessAsync(BenchEnvironment environment, Sizes sizes, string exchange, ArrivalRecorder recorder, bool notify, double seconds)
    {
        await using var writer = ChildProcess.Start(
            [
                "--writer", "--exchange", exchange, "--notify", notify ? "true" : "false",
                "--rate", sizes.LatencyRate.ToString(CultureInfo.InvariantCulture),
                "--warmup", sizes.LatencyWarmupSeconds.ToString(CultureInfo.InvariantCulture),
                "--seconds", seconds.ToString(CultureInfo.InvariantCulture),
                .. ChildProcess.ExperimentArguments,
            ],
            new Dictionary<string, string>
            {
                [Writer.ConnectionVariable] = environment.ShopConnectionString,
                [Writer.ChannelVariable] = environment.NotifyChannel,
            });
        var (commits, rate, cpu) = Writer.Parse(await writer.ReadUntilAsync(null, TimeSpan.FromSeconds(sizes.LatencyWarmupSeconds + seconds + 120)));

        // Without notifications the last rows wait for the relay's next poll.
        await recorder.WaitForAsync(commits.Select(c => c.Id), TimeSpan.FromSeconds(30));
        var latencies = new List<double>(commits.Count);
        var saves = new List<double>(commits.Count);
        var afterSave = new List<double>(commits.Count);
        foreach (var (id, ticks, returned) in commits)
        {
            if (recorder.TryGet(id, out var arrival))
            {
                latencies.Add(Stats.Milliseconds(ticks, arrival.Timestamp));
                saves.Add(Stats.Milliseconds(ticks, returned));

                // The message can be consumed before the writer's call has returned: the commit is visible (and notified) before
                // the writer's process runs its continuation. That counts as no wait after the save.
                afterSave.Add(Math.Max(0, Stats.Milliseconds(returned, arrival.Timestamp)));
            }
        }

        var summary = Stats.Summarize(latencies, commits.Count, commits.Count / Math.Max(rate, 1e-9));
        summary.Cpu = cpu;
        summary.SaveP50Ms = Stats.Round(Stats.Percentile(saves, 50));

        // Where the time goes: the writer's own save (call to return), and from its return to Consume in this process.
        foreach (var (part, values) in new[] { ("save", saves), ("returnToConsume", afterSave) })
        {
            foreach (var p in new[] { 50, 90, 99 })
            {
                summary.Components[$"{part}P{p}Ms"] = Stats.Round(Stats.Percentile(values, p));
            }
        }

        return summary;
    }
}

/// <summary>Starts one action per tick at a fixed rate, open loop, and times the measured part (after the warm-up).</summary>
public static class OpenLoop
{
    public sealed record Run<T>(IReadOnlyList<T> Measured, double MeasuredSeconds, CpuUsage Cpu, long MeasuredStart, long MeasuredEnd);

    /// <param name="rate">Actions started per second.</param>
    /// <param name="warmupSeconds">Seconds of actions before the measured ones.</param>
    /// <param name="seconds">Seconds of measured actions.</param>
    /// <param name="action">The action, given its index.</param>
    /// <param name="measuring">Called as the measured window starts, before its first action.</param>
    public static async Task<Run<T>> RunAsync<T>(int rate, double warmupSeconds, double seconds, Func<int, Task<T>> action, Action? measuring = null)
    {
        var warmup = (int)Math.Round(rate * warmupSeconds);
        var count = warmup + (int)Math.Round(rate * seconds);
        var interval = Stopwatch.Frequency / (double)rate;
        var tasks = new Task<T>[count];
        var start = Stopwatch.GetTimestamp();
        CpuMeter? cpu = null;
        long measuredStart = 0;
        for (var i = 0; i < count; i++)
        {
            var due = start + (long)(i * interval);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
            }

            if (i == warmup)
            {
                measuring?.Invoke();
                cpu = CpuMeter.Start();
                measuredStart = Stopwatch.GetTimestamp();
            }

            var index = i;
            tasks[i] = Task.Run(() => action(index));
        }

        var measuredEnd = Stopwatch.GetTimestamp();
        var results = await Task.WhenAll(tasks);
        var usage = (cpu ?? CpuMeter.Start()).Stop();
        return new Run<T>(results[warmup..], Stats.Milliseconds(measuredStart, measuredEnd) / 1000, usage, measuredStart, measuredEnd);
    }
}
