using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// The second process of the cross-process latency measurement (this program started with --writer): a service that
/// only writes, with its own DI container and connection pool, and no relay. It saves orders at the given rate and
/// prints, per order, its id and the UTC time its SaveChangesAsync returned (after the commit, and with notifications
/// after the NOTIFY too).
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
        var run = await OpenLoop.RunAsync(rate, warmup, seconds, async i =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
            var order = Order.Place(i);
            db.Orders.Add(order);
            // Stamped before the call (the return can be seen after the other process consumed the message), with
            // CLOCK_MONOTONIC on Linux: one clock for every process of the machine, as the relay host's arrival stamps.
            var before = Stopwatch.GetTimestamp();
            await db.SaveChangesAsync();
            return (order.Id, before);
        });

        var output = new StringBuilder();
        foreach (var (id, ticks) in run.Measured)
        {
            output.Append(CultureInfo.InvariantCulture, $"C {id} {ticks} 0\n");
        }

        output.Append(CultureInfo.InvariantCulture, $"RATE {run.Measured.Count / run.MeasuredSeconds}\n");
        output.Append(CultureInfo.InvariantCulture, $"CPU {System.Text.Json.JsonSerializer.Serialize(run.Cpu)}\n");
        await Console.Out.WriteAsync(output.ToString());
        await Console.Out.FlushAsync();
        return 0;
    }
}
