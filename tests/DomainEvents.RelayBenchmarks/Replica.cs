using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// One replica of the producing service in the replicas measurement (this program started with --replica NAME): it saves
/// keyed orders at the given rate and runs its own relay with PostgreSQL notifications, as every instance of a service
/// deployed several times does, on the same database as the other replica. It prints READY once warmed and waits for GO,
/// so that the replicas' loops start together; then its saves (as <see cref="Writer"/>), what its relay counted in the
/// measured window (COUNTERS, JSON) and DONE; it keeps relaying until told STOP, then prints END and stops.
/// </summary>
public static class Replica
{
    public const string RunIdVariable = "RELAYBENCH_RUN";

    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args[Array.IndexOf(args, name) + 1];
        var name = Arg("--replica");
        var exchange = Arg("--exchange");
        var keys = int.Parse(Arg("--keys"), CultureInfo.InvariantCulture);
        var shared = Arg("--shared") == "true";
        var rate = int.Parse(Arg("--rate"), CultureInfo.InvariantCulture);
        var warmup = double.Parse(Arg("--warmup"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Arg("--seconds"), CultureInfo.InvariantCulture);
        var environment = BenchEnvironment.Attach(BenchEnvironment.Require(RunIdVariable), BenchEnvironment.Require(Writer.ConnectionVariable));

        // Orders of the two replicas share keys, or each replica has keys of its own.
        string Key(int sequence) => string.Create(CultureInfo.InvariantCulture, $"{(shared ? "" : name + "-")}customer-{Math.Abs(sequence) % keys}");
        Order Place(int sequence) => Order.Place(sequence, Key(sequence));

        using var notifications = new NotifyCounter();
        await using var host = await BenchHost.StartAsync(new HostSpec
        {
            Environment = environment,
            Exchange = exchange,
            Outbox = true,
            Relay = true,
            Notifications = true,
            LogToStandardError = true,
        });
        var relay = host.Services.GetServices<IHostedService>().OfType<OutboxRelay<ShopDbContext>>().Single();
        var scopes = host.Services.GetRequiredService<IServiceScopeFactory>();
        await OrderSaves.PreWarmAsync(scopes, Place);
        await Console.Out.WriteLineAsync("READY");
        await Console.Out.FlushAsync();
        if (await ReadLineAsync() != "GO")
        {
            return 2;
        }

        // What the relay did from the measured window's start until every save of the window had returned.
        var before = default(RelayCounters);
        var run = await OpenLoop.RunAsync(rate, warmup, seconds, i => OrderSaves.SaveAsync(scopes, Place(i)), () => before = RelayCounters.Read(relay, notifications));
        var counted = RelayCounters.Read(relay, notifications) - before!;
        await Console.Out.WriteAsync(Writer.Format(run) + "COUNTERS " + JsonSerializer.Serialize(counted) + "\nDONE\n");
        await Console.Out.FlushAsync();
        if (await ReadLineAsync() != "STOP")
        {
            return 2;
        }

        await Console.Out.WriteLineAsync("END");
        await Console.Out.FlushAsync();
        return 0;
    }

    /// <summary>A line from the parent, read on a thread of its own: Console.In blocks the thread that reads it.</summary>
    private static Task<string?> ReadLineAsync() =>
        Task.Factory.StartNew(Console.In.ReadLine, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}

/// <summary>What a replica's relay did: its claims over the table and the notifications that it and its process sent.</summary>
public sealed record RelayCounters(long ClaimsOverTable, long PollsWithoutClaim, long ClaimsThatFoundBusyKeys, long WakeUpsSent, long Notifies)
{
    internal static RelayCounters Read(OutboxRelay<ShopDbContext> relay, NotifyCounter notifications) =>
        new(relay.ClaimsOverTable, relay.PollsWithoutClaim, relay.ClaimsThatFoundBusyKeys, relay.WakeUpsSent, notifications.Count);

    public static RelayCounters operator -(RelayCounters after, RelayCounters before) =>
        new(after.ClaimsOverTable - before.ClaimsOverTable, after.PollsWithoutClaim - before.PollsWithoutClaim,
            after.ClaimsThatFoundBusyKeys - before.ClaimsThatFoundBusyKeys, after.WakeUpsSent - before.WakeUpsSent, after.Notifies - before.Notifies);

    public static RelayCounters operator +(RelayCounters a, RelayCounters b) =>
        new(a.ClaimsOverTable + b.ClaimsOverTable, a.PollsWithoutClaim + b.PollsWithoutClaim,
            a.ClaimsThatFoundBusyKeys + b.ClaimsThatFoundBusyKeys, a.WakeUpsSent + b.WakeUpsSent, a.Notifies + b.Notifies);
}

/// <summary>Counts the NOTIFY statements this process sends (a commit's, or a relay's wake-up of other processes), through Npgsql's tracing.</summary>
public sealed class NotifyCounter : IDisposable
{
    private readonly ActivityListener _listener;
    private long _count;

    public NotifyCounter()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("db.query.text") is string text && text.StartsWith("NOTIFY ", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _count);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
