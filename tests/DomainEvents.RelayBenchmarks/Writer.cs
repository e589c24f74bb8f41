using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// The second process of the cross-process latency measurement (this program started with --writer): a service that
/// only writes, with its own DI container and connection pool, and no relay. It saves orders at the given rate and
/// prints, per order, its id, the timestamp before its SaveChangesAsync call and the one after it returned (after the
/// commit, and with notifications after the NOTIFY too).
/// </summary>
public static class Writer
{
    public const string ConnectionVariable = "RELAYBENCH_SHOP";
    public const string ChannelVariable = "RELAYBENCH_CHANNEL";

    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args[Array.IndexOf(args, name) + 1];
        var exchange = Arg("--exchange");
        var notify = Arg("--notify") == "true";
        var rate = int.Parse(Arg("--rate"), CultureInfo.InvariantCulture);
        var warmup = double.Parse(Arg("--warmup"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Arg("--seconds"), CultureInfo.InvariantCulture);
        var connectionString = BenchEnvironment.Require(ConnectionVariable);
        var channel = BenchEnvironment.Require(ChannelVariable);

        await using var services = WriterServices.Build(connectionString, exchange, notify ? channel : null);
        var scopes = services.GetRequiredService<IServiceScopeFactory>();
        await OrderSaves.PreWarmAsync(scopes);
        var run = await OpenLoop.RunAsync(rate, warmup, seconds, i => OrderSaves.SaveAsync(scopes, i));

        await Console.Out.WriteAsync(Format(run));
        await Console.Out.FlushAsync();
        return 0;
    }

    /// <summary>What a writer (or a replica) printed: its saves with their stamps, its rate and its CPU.</summary>
    public static (List<(Guid Id, long Timestamp, long Returned)> Commits, double Rate, CpuUsage? Cpu) Parse(IEnumerable<string> lines)
    {
        var commits = new List<(Guid Id, long Timestamp, long Returned)>();
        var cpu = default(CpuUsage);
        var rate = 0.0;
        foreach (var line in lines)
        {
            var parts = line.Trim().Split(' ');
            if (parts[0] == "C" && parts.Length == 5 && parts[3] == "0")
            {
                commits.Add((Guid.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture), long.Parse(parts[4], CultureInfo.InvariantCulture)));
            }
            else if (parts[0] == "RATE")
            {
                rate = double.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            else if (parts[0] == "CPU")
            {
                cpu = System.Text.Json.JsonSerializer.Deserialize<CpuUsage>(line.Trim()[4..]);
            }
        }

        return (commits, rate, cpu);
    }

    /// <summary>Prints the measured saves, the rate and the CPU of an open loop, for <see cref="Parse"/>.</summary>
    public static string Format(OpenLoop.Run<(Guid Id, long Before, long Returned)> run)
    {
        var output = new StringBuilder();
        foreach (var (id, ticks, returned) in run.Measured)
        {
            output.Append(CultureInfo.InvariantCulture, $"C {id} {ticks} 0 {returned}\n");
        }

        output.Append(CultureInfo.InvariantCulture, $"RATE {run.Measured.Count / run.MeasuredSeconds}\n");
        output.Append(CultureInfo.InvariantCulture, $"CPU {System.Text.Json.JsonSerializer.Serialize(run.Cpu)}\n");
        return output.ToString();
    }
}

/// <summary>The latency measurements' writes: one order and its event per save, in the process's own scope.</summary>
public static class OrderSaves
{
    /// <summary>Saves made one after another before an open loop starts, not measured.</summary>
    public const int PreWarm = 200;

    /// <summary>
    /// Saves one order, stamped before the call and after it returned, with Stopwatch timestamps: CLOCK_MONOTONIC on Linux,
    /// one clock for every process of the machine, as the consumers' arrival stamps. Latency is taken from the call: the
    /// return can be seen after the consumer has the message.
    /// </summary>
    public static async Task<(Guid Id, long Before, long Returned)> SaveAsync(IServiceScopeFactory scopes, int sequence)
    {
        var (saved, _) = await SaveAsync(scopes, sequence, _ => Task.FromResult(0));
        return saved;
    }

    /// <summary>The same save, then <paramref name="then"/> on its context (which still tracks the rows it wrote), in its scope.</summary>
    public static Task<((Guid Id, long Before, long Returned) Saved, T Then)> SaveAsync<T>(IServiceScopeFactory scopes, int sequence, Func<ShopDbContext, Task<T>> then) =>
        SaveAsync(scopes, Order.Place(sequence), then);

    /// <summary>Saves <paramref name="order"/>, stamped as above.</summary>
    public static async Task<(Guid Id, long Before, long Returned)> SaveAsync(IServiceScopeFactory scopes, Order order)
    {
        var (saved, _) = await SaveAsync(scopes, order, _ => Task.FromResult(0));
        return saved;
    }

    private static async Task<((Guid Id, long Before, long Returned) Saved, T Then)> SaveAsync<T>(IServiceScopeFactory scopes, Order order, Func<ShopDbContext, Task<T>> then)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
        db.Orders.Add(order);
        var before = Stopwatch.GetTimestamp();
        await db.SaveChangesAsync();
        var returned = Stopwatch.GetTimestamp();
        return ((order.Id, before, returned), await then(db));
    }

    /// <summary>
    /// A process compiles each method once, fully optimised, the first time it runs it (tiered compilation is off), and its
    /// first saves build EF Core's model and open connections. Saving one order after another first, untimed, keeps the
    /// open loop's warm-up from starting with a queue of saves that wait for that: a fresh writer process showed seconds of
    /// its own saves in the latency's tail without it.
    /// </summary>
    /// <param name="scopes">The process's scopes.</param>
    /// <param name="place">Makes the order of each save from its (negative) sequence; <see cref="Order.Place(int)"/> by default.</param>
    public static async Task PreWarmAsync(IServiceScopeFactory scopes, Func<int, Order>? place = null)
    {
        for (var i = 0; i < PreWarm; i++)
        {
            await SaveAsync(scopes, (place ?? Order.Place)(-1 - i));
        }
    }
}
