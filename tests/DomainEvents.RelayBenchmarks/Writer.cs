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

        var output = new StringBuilder();
        foreach (var (id, ticks, returned) in run.Measured)
        {
            output.Append(CultureInfo.InvariantCulture, $"C {id} {ticks} 0 {returned}\n");
        }

        output.Append(CultureInfo.InvariantCulture, $"RATE {run.Measured.Count / run.MeasuredSeconds}\n");
        output.Append(CultureInfo.InvariantCulture, $"CPU {System.Text.Json.JsonSerializer.Serialize(run.Cpu)}\n");
        await Console.Out.WriteAsync(output.ToString());
        await Console.Out.FlushAsync();
        return 0;
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
    public static async Task<((Guid Id, long Before, long Returned) Saved, T Then)> SaveAsync<T>(IServiceScopeFactory scopes, int sequence, Func<ShopDbContext, Task<T>> then)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
        var order = Order.Place(sequence);
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
    public static async Task PreWarmAsync(IServiceScopeFactory scopes)
    {
        for (var i = 0; i < PreWarm; i++)
        {
            await SaveAsync(scopes, -1 - i);
        }
    }
}
