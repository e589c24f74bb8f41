using DomainEvents.EntityFrameworkCore.Relay;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.FaultRelay;

/// <summary>
/// A relay as its own process, configured the way the fault suite needs it: short timeouts, few attempts and short
/// back-off, so that a fault that is wrongly charged to messages kills rows within seconds.
/// </summary>
public static class RelayProcess
{
    /// <summary>Relay settings shared by the relay processes and the tests that reason about them.</summary>
    public static void Configure(OutboxRelayOptions relay, string instance)
    {
        relay.InstanceName = instance;
        relay.BatchSize = 100;
        relay.PollingInterval = TimeSpan.FromMilliseconds(250);
        relay.SendTimeout = TimeSpan.FromSeconds(2);
        relay.LeaseDuration = TimeSpan.FromSeconds(8);
        relay.MaxAttempts = 3;
        relay.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
        relay.RetryMaxDelay = TimeSpan.FromSeconds(1);
        relay.MaxOutagePause = TimeSpan.FromSeconds(1);
    }

    /// <summary>
    /// Usage: DomainEvents.FaultRelay POSTGRES RABBITMQ-URI EXCHANGE INSTANCE [WRITE-SECONDS]. With WRITE-SECONDS the
    /// process also writes, for that long, with two writers racing on the accounts: its commits hand their rows to its own
    /// relay, while other processes write and relay the same accounts.
    /// </summary>
    public static async Task<int> Main(string[] args)
    {
        if (args is ["backfill", _, _])
        {
            return await BackfillProcess.RunAsync(args[1..]);
        }

        if (args.Length is not (4 or 5))
        {
            await Console.Error.WriteLineAsync("usage: DomainEvents.FaultRelay <postgres connection string> <amqp uri> <exchange> <instance name> [write seconds]");
            return 2;
        }

        var (postgres, rabbit, exchange, instance) = (args[0], new Uri(args[1]), args[2], args[3]);
        var writeFor = args.Length == 5 ? TimeSpan.FromSeconds(int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture)) : TimeSpan.Zero;
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ").SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<LedgerDbContext>(o => o.UseNpgsql(postgres));
        builder.Services.AddDomainEvents(o => o.MapIntegrationEvent<Deposited>(m => m.Exchange = exchange))
            .AddEntityFrameworkOutbox<LedgerDbContext>()
            .AddMassTransitRelay(r => Configure(r, instance))
            .AddPostgresNotifications();
        builder.Services.AddMassTransit(x => x.UsingRabbitMq((_, cfg) => cfg.Host(rabbit)));
        using var host = builder.Build();
        await host.StartAsync();
        if (writeFor > TimeSpan.Zero)
        {
            await WriteAsync(host.Services, writeFor, writers: 2);
        }

        await host.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>Writers race on the same accounts; a lost race (concurrency token) or a database outage is retried.</summary>
    private static async Task WriteAsync(IServiceProvider services, TimeSpan duration, int writers)
    {
        Guid[] accounts = [];
        while (accounts.Length == 0)
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                accounts = [.. await scope.ServiceProvider.GetRequiredService<LedgerDbContext>().Accounts.Select(a => a.Id).ToListAsync()];
            }
            catch (Exception ex)
            {
                await Console.Error.WriteLineAsync($"reading the accounts failed: {ex.GetType().Name}: {ex.Message}");
                await Task.Delay(200);   // the database is away
            }
        }

        await LedgerWriters.WriteAsync(services, accounts, writers, Environment.ProcessId * 31, duration, sometimesTwice: false,
            ex => Console.Error.WriteLine($"write failed: {ex.GetType().Name}: {ex.Message}"));

        // The suite counts what was committed once every writer has finished.
        Console.WriteLine(WritesDone);
    }

    /// <summary>The line a relay process prints when its writers have finished.</summary>
    public const string WritesDone = "writes done";
}
