using DomainEvents.EntityFrameworkCore.Relay;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace DomainEvents.RelayBenchmarks;

/// <summary>What one host plays: a writer (outbox), a relay, consumers, or a plain MassTransit bus.</summary>
public sealed class HostSpec
{
    public required BenchEnvironment Environment { get; init; }

    /// <summary>The exchange <see cref="OrderPlaced"/> is mapped to; null for hosts that neither write nor relay.</summary>
    public string? Exchange { get; init; }

    /// <summary>Registers ShopDbContext with AddDomainEvents and the EF Core outbox.</summary>
    public bool Outbox { get; init; }

    public bool Relay { get; init; }

    public Action<OutboxRelayOptions>? ConfigureRelay { get; init; }

    /// <summary>AddPostgresNotifications on this run's own channel (the relay host listens, writers notify).</summary>
    public bool Notifications { get; init; }

    /// <summary>Registers BillingDbContext, the consuming service's database.</summary>
    public bool Billing { get; init; }

    public Action<IBusRegistrationConfigurator>? Consumers { get; init; }

    public Action<IRabbitMqBusFactoryConfigurator, IBusRegistrationContext>? ConfigureBus { get; init; }

    public Action<IServiceCollection>? Services { get; init; }

    /// <summary>Logs to standard error, for a child process whose standard output the parent reads.</summary>
    public bool LogToStandardError { get; init; }
}

/// <summary>A generic host wired the way a service wires the library: EF Core, AddDomainEvents, the relay and MassTransit.</summary>
public sealed class BenchHost : IAsyncDisposable
{
    private readonly IHost _host;

    private BenchHost(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;

    public static async Task<BenchHost> StartAsync(HostSpec spec)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        if (spec.LogToStandardError)
        {
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }

        var services = builder.Services;
        spec.Services?.Invoke(services);
        var environment = spec.Environment;

        if (spec.Outbox || spec.Relay)
        {
            services.AddDbContext<ShopDbContext>(o => o.UseNpgsql(environment.ShopConnectionString));
        }

        if (spec.Billing)
        {
            services.AddDbContext<BillingDbContext>(o => o.UseNpgsql(environment.BillingConnectionString));
        }

        var events = services.AddDomainEvents(o =>
        {
            if (spec.Exchange is { } exchange)
            {
                o.MapIntegrationEvent<OrderPlaced>(m => m.Exchange = exchange);
                o.MapIntegrationEvent<KeyedOrderPlaced>(m => m.Exchange = exchange);
            }
        });
        if (spec.Outbox || spec.Relay)
        {
            events.AddEntityFrameworkOutbox<ShopDbContext>();
            if (spec.Notifications)
            {
                events.AddPostgresNotifications(o => o.Channel = environment.NotifyChannel);
            }

            if (spec.Relay)
            {
                events.AddMassTransitRelay(r =>
                {
                    if (Experiments.PollingInterval is { } polling)
                    {
                        r.PollingInterval = polling;
                    }

                    spec.ConfigureRelay?.Invoke(r);
                });
            }
        }

        services.AddMassTransit(x =>
        {
            spec.Consumers?.Invoke(x);
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(environment.RabbitUri);
                spec.ConfigureBus?.Invoke(cfg, context);
                cfg.ConfigureIntegrationEventEndpoints(context);
            });
        });

        // Start only once every receive endpoint is bound.
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new BenchHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await _host.StopAsync(timeout.Token);
        }

        _host.Dispose();
    }
}

/// <summary>Writer-only registrations without a host: for timing SaveChangesAsync alone.</summary>
public static class WriterServices
{
    /// <param name="connectionString">The producing service's database.</param>
    /// <param name="exchange">Where OrderPlaced is mapped.</param>
    /// <param name="notifyChannel">With a channel, AddPostgresNotifications (notify only: a writer runs no relay, so it does not listen).</param>
    public static ServiceProvider Build(string connectionString, string exchange, string? notifyChannel)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<ShopDbContext>(o => o.UseNpgsql(connectionString));
        var events = services.AddDomainEvents(o => o.MapIntegrationEvent<OrderPlaced>(m => m.Exchange = exchange))
            .AddEntityFrameworkOutbox<ShopDbContext>();
        if (notifyChannel is not null)
        {
            events.AddPostgresNotifications(o =>
            {
                o.Channel = notifyChannel;
                o.Listen = false;
            });
        }

        return services.BuildServiceProvider();
    }
}
