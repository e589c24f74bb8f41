using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DomainEvents.RelayBenchmarks;
using Microsoft.EntityFrameworkCore;

// The relay benchmarks of issue 3: our code and its baselines measured in the same run, printed as ratios.
//   dotnet run -c Release --project tests/DomainEvents.RelayBenchmarks            the issue's sizes (~3 minutes)
//   dotnet run -c Release --project tests/DomainEvents.RelayBenchmarks -- --quick a small smoke run (~25 s)
// Needs DOMAINEVENTS_TEST_POSTGRES and DOMAINEVENTS_TEST_RABBITMQ (source artifacts/servers/env.sh).
// Writes artifacts/bench/results.json. For investigating (written to results-<name>.json instead, never a report):
//   --only 1,3          some of the eight measurements      --rounds N     rounds of measurements 1 and 3
//   --runners relay,raw some of measurement 1's runners (relay, masstransit, raw, plain-outbox, ...; see ThroughputBenchmark)
//   --experiment NAME   auto-prepare, no-savepoints, lean-inbox, lean-inbox-check, lean-inbox-tx, stale-stats, no-reset, lease-floor, batch-N, pool-N, poll-N, inflight-N
//                       (see Experiments in Model.cs and docs/benchmarks-relay.md)
var quick = args.Contains("--quick");
var experiment = args.Contains("--experiment") ? args[Array.IndexOf(args, "--experiment") + 1] : null;
Experiments.NoAutoSavepoints = experiment == "no-savepoints";
Experiments.AutoPrepare = experiment == "auto-prepare";
Experiments.StaleStatistics = experiment == "stale-stats";
Experiments.NoResetOnClose = experiment == "no-reset";
Experiments.LeaseFloor = experiment == "lease-floor";
Experiments.LeanInbox = experiment is "lean-inbox" or "lean-inbox-check" or "lean-inbox-tx";
Experiments.LeanInboxTransaction = experiment == "lean-inbox-tx";
Experiments.LeanInboxCheck = experiment == "lean-inbox-check";
// --only 1,3 runs some of the measurements (for investigating one; the figures of a partial run are not a report).
var only = args.Contains("--only")
    ? args[Array.IndexOf(args, "--only") + 1].Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToHashSet()
    : [1, 2, 3, 4, 5, 6, 7, 8];
var runners = args.Contains("--runners") ? args[Array.IndexOf(args, "--runners") + 1].Split(',') : null;
var sizes = quick ? Sizes.Quick : Sizes.Full;
if (args.Contains("--rounds"))
{
    var rounds = int.Parse(args[Array.IndexOf(args, "--rounds") + 1], CultureInfo.InvariantCulture);
    sizes = sizes with { ThroughputRounds = rounds, InboxRounds = rounds };
}

if (experiment?.StartsWith("pool-", StringComparison.Ordinal) == true)
{
    // pool-10: at most 10 connections per database instead of 100.
    Experiments.MaxPoolSize = int.Parse(experiment["pool-".Length..], CultureInfo.InvariantCulture);
}

if (experiment?.StartsWith("poll-", StringComparison.Ordinal) == true)
{
    // poll-5000: the relays claim over the table every 5 s when nothing else asks for a claim, instead of every second.
    Experiments.PollingInterval = TimeSpan.FromMilliseconds(int.Parse(experiment["poll-".Length..], CultureInfo.InvariantCulture));
}

if (experiment?.StartsWith("batch-", StringComparison.Ordinal) == true)
{
    // batch-2000: the relay claims 2,000 rows at a time instead of 500.
    sizes = sizes with { RelayBatchSize = int.Parse(experiment["batch-".Length..], CultureInfo.InvariantCulture) };
}

if (experiment?.StartsWith("inflight-", StringComparison.Ordinal) == true)
{
    // inflight-300: every runner of measurement 1 (the relay's MaxConcurrentSends with them) keeps 300 sends in flight instead of 100.
    sizes = sizes with { InFlight = int.Parse(experiment["inflight-".Length..], CultureInfo.InvariantCulture) };
}

// The second processes of measurements 2 and 8 (this program started again) run under the same experiment.
ChildProcess.ExperimentArguments = experiment is null ? [] : ["--experiment", experiment];
if (args.Contains("--writer"))
{
    return await Writer.RunAsync(args);
}

if (args.Contains("--replica"))
{
    return await Replica.RunAsync(args);
}

var root = Report.FindRepositoryRoot();
var total = Stopwatch.StartNew();
var results = new BenchResults
{
    Quick = quick,
    Machine =
    {
        ["cores"] = Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture),
        ["os"] = RuntimeInformation.OSDescription,
        ["runtime"] = RuntimeInformation.FrameworkDescription,
        ["cpu"] = CpuModel(),
        ["configuration"] = IsOptimized() ? "Release" : "Debug",
    },
    Settings =
    {
        ["backlog"] = sizes.Backlog,
        ["throughputRounds"] = sizes.ThroughputRounds,
        ["partitionKeys"] = sizes.PartitionKeys,
        ["inFlight"] = sizes.InFlight,
        ["relayBatchSize"] = sizes.RelayBatchSize,
        ["latencyRatePerSecond"] = sizes.LatencyRate,
        ["latencySeconds"] = sizes.LatencySeconds,
        ["latencyWarmupSeconds"] = sizes.LatencyWarmupSeconds,
        ["crossProcessSeconds"] = sizes.CrossProcessSeconds,
        ["crossProcessPollingSeconds"] = sizes.CrossProcessPollingSeconds,
        ["inboxMessages"] = sizes.InboxMessages,
        ["inboxRounds"] = sizes.InboxRounds,
        ["inboxPrefetch"] = sizes.InboxPrefetch,
        ["notifySavesPerVariant"] = sizes.NotifySaves,
        ["deepStuckRows"] = sizes.DeepStuckRows,
        ["deepFreshRows"] = sizes.DeepFreshRows,
        ["refusalRows"] = sizes.RefusalRows,
        ["replicaSeconds"] = sizes.ReplicaSeconds,
        ["replicaKeys"] = sizes.ReplicaKeys,
        ["payload"] = Payloads.Describe(),
        ["only"] = string.Join(",", only),
        ["experiment"] = experiment ?? "",
    },
};

Console.WriteLine($"Relay benchmarks ({(quick ? "quick" : "full")}, {results.Machine["configuration"]}), payload {Payloads.Describe()}, {Environment.ProcessorCount} cores");
if (experiment is not null)
{
    results.Notes.Add($"Experiment {experiment}: not the library as shipped.");
}

if (results.Machine["configuration"] != "Release")
{
    results.Notes.Add("Not a Release build: figures are not representative.");
}

var idle = CpuMeter.Start();
await Task.Delay(TimeSpan.FromSeconds(quick ? 1 : 3));
results.IdleBefore = idle.Stop();
Console.WriteLine($"CPU before starting (nothing of ours running): {results.IdleBefore}");

await using (var environment = await BenchEnvironment.CreateAsync())
{
    Console.WriteLine($"Run {environment.RunId}: databases relaybench_{environment.RunId}_shop/_billing, exchanges and queues relaybench-{environment.RunId}-*");
    results.Postgres = await environment.PostgresSettingsAsync();
    results.RabbitMq = await environment.RabbitSettingsAsync();
    Console.WriteLine($"PostgreSQL {results.Postgres["server_version"]} (fsync {results.Postgres["fsync"]}, synchronous_commit {results.Postgres["synchronous_commit"]}), " +
                      $"RabbitMQ {results.RabbitMq["version"]}");
    await CreateSchemaAsync(environment);

    var phases = new (string Title, Func<Task> Run)[]
    {
        ($"1. Relay throughput: {sizes.Backlog:N0}-row backlog, {sizes.PartitionKeys:N0} partition keys, batch {sizes.RelayBatchSize}, {sizes.InFlight} in flight",
            () => ThroughputBenchmark.RunAsync(environment, sizes, results, runners)),
        ($"2. Latency at {sizes.LatencyRate}/s for {sizes.LatencySeconds} s (after {sizes.LatencyWarmupSeconds} s warm-up)",
            () => LatencyBenchmark.RunAsync(environment, sizes, results)),
        ($"3. Inbox consumer: drain {sizes.InboxMessages:N0} pre-loaded messages, prefetch {sizes.InboxPrefetch}",
            () => InboxBenchmark.RunAsync(environment, sizes, results)),
        ($"4. NOTIFY cost: {sizes.NotifySaves:N0} saves each way",
            () => NotifyBenchmark.RunAsync(environment, sizes, results)),
        ($"5. Deep backlog: claims behind {sizes.DeepStuckRows:N0} stuck rows vs a {sizes.Backlog:N0}-row backlog",
            () => DeepBacklogBenchmark.RunAsync(environment, sizes, results)),
        ($"6. A refused exchange: {sizes.RefusalRows:N0} rows to a good exchange, alone and beside 10 keys the broker refuses",
            () => RefusedExchangeBenchmark.RunAsync(environment, sizes, results)),
        ($"7. Ordered consumer: drain {sizes.OrderedMessages:N0} pre-loaded messages on 1,000 keys, 8 at once, order kept per key vs order off",
            () => OrderedConsumerBenchmark.RunAsync(environment, sizes, results)),
        ($"8. Two replicas of the producing service, each saving {sizes.LatencyRate / 2}/s and relaying with NOTIFY, for {sizes.ReplicaSeconds} s: keys of their own, then {sizes.ReplicaKeys} shared keys",
            () => ReplicasBenchmark.RunAsync(environment, sizes, results)),
    };
    foreach (var (title, run) in phases.Where((_, i) => only.Contains(i + 1)))
    {
        Console.WriteLine();
        Console.WriteLine(title);
        var clock = Stopwatch.StartNew();
        try
        {
            await run();
        }
        catch (Exception ex)
        {
            results.Errors.Add($"{title}: {ex.GetType().Name}: {ex.Message}");
            Console.Error.WriteLine(ex);
        }

        Console.WriteLine($"  ({clock.Elapsed.TotalSeconds:N0} s)");
    }
}

results.TotalSeconds = Math.Round(total.Elapsed.TotalSeconds, 1);
Report.Build(results);
Report.NoteOtherLoad(results);
Console.WriteLine();
Console.Write(Report.Table(results));
foreach (var note in results.Notes)
{
    Console.WriteLine($"NOTE: {note}");
}

foreach (var error in results.Errors)
{
    Console.WriteLine($"ERROR: {error}");
}

var variant = experiment ?? (only.Count < 8 ? "only-" + string.Join("-", only.Order()) : null) ?? (runners is null ? null : "runners");
var path = Report.WriteJson(results, root, variant);
Console.WriteLine($"Wrote {path} ({results.TotalSeconds:N0} s in all)");
return results.Errors.Count == 0 ? 0 : 1;

static async Task CreateSchemaAsync(BenchEnvironment environment)
{
    await using (var shop = new ShopDbContext(new DbContextOptionsBuilder<ShopDbContext>().UseNpgsql(environment.ShopConnectionString).Options))
    {
        await shop.Database.EnsureCreatedAsync();
    }

    await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(environment.BillingConnectionString).Options);
    await billing.Database.EnsureCreatedAsync();
}

static string CpuModel()
{
    try
    {
        return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "";
    }
    catch (IOException)
    {
        return "";
    }
}

static bool IsOptimized() =>
    typeof(BenchResults).Assembly.GetCustomAttributes(typeof(DebuggableAttribute), false) is not [DebuggableAttribute { IsJITOptimizerDisabled: true }];
