using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Measurement 4: what AddPostgresNotifications costs the writer. One SaveChangesAsync of an order with one
/// integration event, one after the other, with and without notifications, in alternating blocks. A connection
/// LISTENs on the channel meanwhile, as a relay process would.
/// </summary>
public static class NotifyBenchmark
{
    public static async Task RunAsync(BenchEnvironment environment, Sizes sizes, BenchResults results)
    {
        var exchange = environment.Exchange("notify");
        await using var plain = WriterServices.Build(environment.ShopConnectionString, exchange, null);
        await using var notifying = WriterServices.Build(environment.ShopConnectionString, exchange, environment.NotifyChannel);

        await using var listener = new NpgsqlConnection(environment.ShopConnectionString);
        await listener.OpenAsync();
        var notifications = 0;
        listener.Notification += (_, _) => Interlocked.Increment(ref notifications);
        await using (var listen = new NpgsqlCommand($"LISTEN {environment.NotifyChannel}", listener))
        {
            await listen.ExecuteNonQueryAsync();
        }

        using var stop = new CancellationTokenSource();
        var listening = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    await listener.WaitAsync(stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // Done.
            }
        });

        var without = new List<double>();
        var with = new List<double>();
        var sequence = 0;
        await SaveAsync(plain, 200, null);
        await SaveAsync(notifying, 200, null);
        var cpu = CpuMeter.Start();
        var clock = Stopwatch.StartNew();
        for (var block = 0; block * sizes.NotifyBlock < sizes.NotifySaves; block++)
        {
            var notifyFirst = block % 2 == 1;
            await SaveAsync(notifyFirst ? notifying : plain, sizes.NotifyBlock, notifyFirst ? with : without);
            await SaveAsync(notifyFirst ? plain : notifying, sizes.NotifyBlock, notifyFirst ? without : with);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var usage = cpu.Stop();
        await stop.CancelAsync();
        await listening;

        results.SaveChanges["without-notify"] = Stats.Summarize(without, without.Count, seconds / 2);
        results.SaveChanges["with-notify"] = Stats.Summarize(with, with.Count, seconds / 2);
        results.SaveChanges["without-notify"].Cpu = usage;
        results.SaveChanges["with-notify"].Cpu = usage;
        foreach (var (name, s) in results.SaveChanges)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  SaveChangesAsync {name,-15} mean {s.MeanMs,6:N3} ms  p50 {s.P50Ms,6:N3}  p90 {s.P90Ms,6:N3}  p99 {s.P99Ms,6:N3}  ({s.Count} saves)"));
        }

        Console.WriteLine($"  the listener received {notifications} notifications");
        if (notifications < with.Count)
        {
            // PostgreSQL folds identical notifications of one transaction, never across transactions.
            results.Errors.Add($"The listener received {notifications} notifications for {with.Count} notifying saves.");
        }

        async Task SaveAsync(ServiceProvider services, int count, List<double>? times)
        {
            var scopes = services.GetRequiredService<IServiceScopeFactory>();
            for (var i = 0; i < count; i++)
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
                db.Orders.Add(Order.Place(Interlocked.Increment(ref sequence)));
                var start = Stopwatch.GetTimestamp();
                await db.SaveChangesAsync();
                times?.Add(Stats.Milliseconds(start, Stopwatch.GetTimestamp()));
            }
        }
    }
}
