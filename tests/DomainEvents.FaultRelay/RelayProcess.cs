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

    /// <summary>Usage: DomainEvents.FaultRelay POSTGRES RABBITMQ-URI EXCHANGE INSTANCE.</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length != 4)
        {
            await Console.Error.WriteLineAsync("usage: DomainEvents.FaultRelay <postgres connection string> <amqp uri> <exchange> <instance name>");
            return 2;
        }

        var (postgres, rabbit, exchange, instance) = (args[0], new Uri(args[1]), args[2], args[3]);
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
        await host.RunAsync();
        return 0;
    }
}
