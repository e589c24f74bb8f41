using DomainEvents.CloudEvents.Tests.Model;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.CloudEvents.Tests;

/// <summary>
/// A generic host wired the way a user wires a Knative source: EF Core on SQLite, AddDomainEvents,
/// AddEntityFrameworkOutbox and AddCloudEventsHttpRelay, with relay timings small enough for tests.
/// </summary>
public sealed class RelayHost : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _started;

    private RelayHost(IHost host, TestDatabase database)
    {
        _host = host;
        Database = database;
    }

    public TestDatabase Database { get; }

    public IServiceProvider Services => _host.Services;

    /// <summary>Builds the host and creates its database; <paramref name="start"/> false leaves starting to the test.</summary>
    public static async Task<RelayHost> CreateAsync(
        Action<CloudEventsOptions>? configure = null,
        Action<OutboxRelayOptions>? configureRelay = null,
        bool start = true,
        Action<DomainEventsBuilder>? events = null)
    {
        var database = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddDbContext<OrderingDbContext>(o => database.Configure(o));
        var domainEvents = builder.Services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>())
            .AddEntityFrameworkOutbox<OrderingDbContext>();
        events?.Invoke(domainEvents);
        domainEvents.AddCloudEventsHttpRelay(configure, relay =>
            {
                relay.PollingInterval = TimeSpan.FromMilliseconds(100);
                relay.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                relay.RetryMaxDelay = TimeSpan.FromSeconds(1);
                relay.MaxOutagePause = TimeSpan.FromMilliseconds(500);
                configureRelay?.Invoke(relay);
            });
        var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrderingDbContext>().Database.EnsureCreatedAsync();
        }

        var relayHost = new RelayHost(host, database);
        if (start)
        {
            await relayHost.StartAsync();
        }

        return relayHost;
    }

    /// <summary>Starts a host on a channel of the shared sink server.</summary>
    public static Task<RelayHost> StartAsync(
        SinkChannel channel, Action<CloudEventsOptions>? configure = null, Action<OutboxRelayOptions>? configureRelay = null, Action<DomainEventsBuilder>? events = null) =>
        CreateAsync(
            o =>
            {
                o.SinkUrl = channel.Url;
                o.Source = new Uri("/tests/orders", UriKind.Relative);
                configure?.Invoke(o);
            },
            configureRelay,
            events: events);

    public async Task StartAsync()
    {
        await _host.StartAsync();
        _started = true;
    }

    /// <summary>Places an order in a scope of its own, as one request would; the relay wakes up on commit.</summary>
    public async Task<Order> PlaceOrderAsync(string customer = "ada", decimal total = 42.5m)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        var order = Order.Place(customer, total);
        db.Orders.Add(order);
        await db.SaveChangesAsync();
        return order;
    }

    public async Task<List<OutboxMessage>> OutboxAsync()
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<OrderingDbContext>()
            .Set<OutboxMessage>().AsNoTracking().OrderBy(m => m.Id).ToListAsync();
    }

    public async Task<OutboxMessage> SingleRowAsync() => (await OutboxAsync()).Single();

    /// <summary>Waits until the single outbox row satisfies <paramref name="condition"/>, and returns it.</summary>
    public async Task<OutboxMessage> WaitForRowAsync(Func<OutboxMessage, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        OutboxMessage row;
        while (!condition(row = await SingleRowAsync()))
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"The outbox row did not reach the expected state; it is {row.Status} after {row.Attempts} attempts, last error: {row.LastError}");
            }

            await Task.Delay(50);
        }

        return row;
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            await _host.StopAsync();
        }

        _host.Dispose();
        await Database.DisposeAsync();
    }
}
