using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.MassTransit.Consumers;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Tests;

/// <summary>What one test process plays: a producer with its relay, consumers, or both.</summary>
public sealed class ServiceHostOptions
{
    public required TestTransport Transport { get; init; }

    public required TestDatabase ShopDatabase { get; init; }

    public TestDatabase? BillingDatabase { get; init; }

    /// <summary>Makes names unique per test, so tests on one broker do not see each other's messages.</summary>
    public required string RunId { get; init; }

    public bool Relay { get; init; } = true;

    public Action<OutboxRelayOptions>? ConfigureRelay { get; init; }

    /// <summary>Envelopes, versioned routing keys and CloudEvents settings of the relay.</summary>
    public Action<MassTransitRelayOptions>? ConfigureTransport { get; set; }

    /// <summary>Bus-wide MassTransit configuration (retry, say), applied before the integration event endpoints.</summary>
    public Action<IBusFactoryConfigurator>? ConfigureBus { get; set; }

    public Action<DomainEventsOptions>? ConfigureEvents { get; set; }

    /// <summary>More registrations on the DomainEvents builder, such as AddPostgresNotifications.</summary>
    public Action<DomainEventsBuilder>? ConfigureBuilder { get; set; }

    /// <summary>Consumers to add, each with its bindings.</summary>
    public List<(Type Consumer, Action<IntegrationEventConsumerOptions> Configure)> Consumers { get; } = [];

    public Deliveries Deliveries { get; init; } = new();

    /// <summary>Configures the producing service's context instead of its connection string (a data source, say).</summary>
    public Action<DbContextOptionsBuilder>? ShopContext { get; set; }

    /// <summary>More settings of the consuming service's context (interceptors, say).</summary>
    public Action<DbContextOptionsBuilder>? ConfigureBilling { get; set; }

    /// <summary>The broker to connect to, as another user say (default: the test broker).</summary>
    public Uri? RabbitMqUri { get; set; }

    /// <summary>More registrations on the host's services (AddIntegrationEventDrain, say).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; set; }

    /// <summary>Configuration values (such as <c>DomainEvents:Relay:BatchSize</c>); when set, the host adds domain events with its configuration.</summary>
    public Dictionary<string, string?>? Configuration { get; set; }

    /// <summary>More MassTransit registrations, such as integration event handlers.</summary>
    public Action<IBusRegistrationConfigurator>? ConfigureMassTransit { get; set; }

    /// <summary>Npgsql settings of the consuming service's context (an execution strategy, say).</summary>
    public Action<Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.NpgsqlDbContextOptionsBuilder>? BillingNpgsql { get; set; }
}

/// <summary>A generic host wired the way a user wires a service: EF Core, AddDomainEvents, the relay and MassTransit.</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private readonly IHost _host;

    private ServiceHost(IHost host, ServiceHostOptions options)
    {
        _host = host;
        Options = options;
    }

    public ServiceHostOptions Options { get; }

    public IServiceProvider Services => _host.Services;

    public Deliveries Deliveries => Options.Deliveries;

    public string Exchange => $"shop-{Options.RunId}";

    public static string ExchangeFor(string runId) => $"shop-{runId}";

    public static async Task<ServiceHost> StartAsync(ServiceHostOptions options)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        var services = builder.Services;
        services.AddSingleton(options.Deliveries);
        services.AddDbContext<ShopDbContext>(o =>
        {
            if (options.ShopContext is { } shop)
            {
                shop(o);
            }
            else
            {
                options.ShopDatabase.Configure(o);
            }
        });
        if (options.BillingDatabase is { } billing)
        {
            services.AddDbContext<BillingDbContext>(o =>
            {
                billing.Configure(o, options.BillingNpgsql);
                options.ConfigureBilling?.Invoke(o);
            });
        }

        var exchange = ExchangeFor(options.RunId);
        if (options.Configuration is not null)
        {
            builder.Configuration.AddInMemoryCollection(options.Configuration);
        }

        var events = services.AddDomainEvents(options.Configuration is null ? new ConfigurationBuilder().Build() : builder.Configuration, o =>
            {
                o.MapIntegrationEvent<OrderPlaced>(m => m.Exchange = exchange);
                o.MapIntegrationEvent<OrderPlacedV2>(m => m.Exchange = exchange);
                o.MapIntegrationEvent<InvoicePaid>(m => m.Exchange = exchange);
                o.MapIntegrationEvent<InvoiceRefunded>(m => m.Exchange = exchange);
                options.ConfigureEvents?.Invoke(o);
            })
            .AddEntityFrameworkOutbox<ShopDbContext>();
        options.ConfigureBuilder?.Invoke(events);
        if (options.Relay)
        {
            events.AddMassTransitRelay(r =>
            {
                r.PollingInterval = TimeSpan.FromMilliseconds(200);
                r.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                r.RetryMaxDelay = TimeSpan.FromSeconds(1);
                r.MaxOutagePause = TimeSpan.FromSeconds(1);
                options.ConfigureRelay?.Invoke(r);
            }, options.ConfigureTransport);
        }

        services.AddMassTransit(x =>
        {
            foreach (var (consumer, configure) in options.Consumers)
            {
                AddConsumerMethod.MakeGenericMethod(consumer).Invoke(null, [x, configure]);
            }

            options.ConfigureMassTransit?.Invoke(x);

            if (options.Transport == TestTransport.InMemory)
            {
                x.UsingInMemory((context, cfg) =>
                {
                    options.ConfigureBus?.Invoke(cfg);
                    cfg.ConfigureIntegrationEventEndpoints(context);
                });
            }
            else
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(options.RabbitMqUri ?? TestServers.RabbitMqUri);
                    options.ConfigureBus?.Invoke(cfg);
                    cfg.ConfigureIntegrationEventEndpoints(context);
                });
            }
        });

        options.ConfigureServices?.Invoke(services);

        // Start only once every receive endpoint is bound, so nothing is published to an exchange without its queues.
        services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ShopDbContext>().Database.EnsureCreatedAsync();
            if (options.BillingDatabase is not null)
            {
                await scope.ServiceProvider.GetRequiredService<BillingDbContext>().Database.EnsureCreatedAsync();
            }
        }

        await host.StartAsync();
        return new ServiceHost(host, options);
    }

    private static readonly System.Reflection.MethodInfo AddConsumerMethod =
        typeof(ServiceHost).GetMethod(nameof(AddConsumer), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;

    private static void AddConsumer<TConsumer>(IBusRegistrationConfigurator x, Action<IntegrationEventConsumerOptions> configure)
        where TConsumer : class, IConsumer =>
        x.AddIntegrationEventConsumer<TConsumer>(configure);

    public async Task<T> InScopeAsync<T>(Func<ShopDbContext, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<ShopDbContext>());
    }

    public async Task SaveAsync(params AggregateRoot[] aggregates)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
        db.AddRange(aggregates);
        await db.SaveChangesAsync();
    }

    public Task<List<EntityFrameworkCore.Outbox.OutboxMessage>> OutboxAsync() =>
        InScopeAsync(db => db.Set<EntityFrameworkCore.Outbox.OutboxMessage>().AsNoTracking().OrderBy(m => m.Id).ToListAsync());

    public async Task StopAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _host.StopAsync(cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _host.Dispose();
    }
}
