using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>A service provider wired the way a user wires it: AddDbContext, AddDomainEvents, AddEntityFrameworkOutbox.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private TestHost(TestDatabase database, ServiceProvider services)
    {
        Database = database;
        Services = services;
    }

    public TestDatabase Database { get; }

    public ServiceProvider Services { get; }

    public HandlerLog Log => Services.GetRequiredService<HandlerLog>();

    public static async Task<TestHost> StartAsync(
        DatabaseProvider provider,
        Action<DomainEventsOptions>? configure = null,
        Action<NpgsqlDbContextOptionsBuilder>? npgsql = null,
        Action<DbContextOptionsBuilder>? configureContext = null,
        bool scanHandlers = true,
        Action<IServiceCollection>? services = null,
        Action<DomainEventsBuilder>? events = null)
    {
        var database = await TestDatabase.CreateAsync(provider);
        var collection = new ServiceCollection();
        services?.Invoke(collection);
        collection.AddSingleton<HandlerLog>();
        collection.AddDbContext<OrderingDbContext>(o =>
        {
            database.Configure(o, npgsql);
            configureContext?.Invoke(o);
        });
        var builder = collection.AddDomainEvents(o =>
            {
                if (scanHandlers)
                {
                    o.AddHandlersFromAssemblyContaining<OrderingDbContext>();
                }

                configure?.Invoke(o);
            })
            .AddEntityFrameworkOutbox<OrderingDbContext>();
        events?.Invoke(builder);
        var provider1 = collection.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });
        await using (var scope = provider1.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrderingDbContext>().Database.EnsureCreatedAsync();
        }

        return new TestHost(database, provider1);
    }

    /// <summary>Runs <paramref name="work"/> in a new scope, as one request would.</summary>
    public async Task<T> InScopeAsync<T>(Func<OrderingDbContext, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<OrderingDbContext>());
    }

    /// <summary>Runs <paramref name="work"/> in a new scope, with that scope's services.</summary>
    public async Task InScopeAsync(Func<OrderingDbContext, IServiceProvider, Task> work)
    {
        await using var scope = Services.CreateAsyncScope();
        await work(scope.ServiceProvider.GetRequiredService<OrderingDbContext>(), scope.ServiceProvider);
    }

    public Task InScopeAsync(Func<OrderingDbContext, Task> work) =>
        InScopeAsync(async db =>
        {
            await work(db);
            return 0;
        });

    public Task<List<Outbox.OutboxMessage>> OutboxAsync() =>
        InScopeAsync(db => db.Set<Outbox.OutboxMessage>().AsNoTracking().OrderBy(m => m.Id).ToListAsync());

    public Task<int> OrderCountAsync() => InScopeAsync(db => db.Orders.CountAsync());

    /// <summary>Writes one outbox row directly, as if an event of that age were waiting in that state.</summary>
    public Task AddOutboxRowAsync(string exchange, Outbox.OutboxMessageStatus status, DateTime occurredAt) =>
        InScopeAsync(async db =>
        {
            db.Set<Outbox.OutboxMessage>().Add(new Outbox.OutboxMessage
            {
                MessageId = Guid.CreateVersion7(),
                MessageType = "order.placed",
                Version = 1,
                Exchange = exchange,
                RoutingKey = "order.placed",
                PartitionKey = $"Order/{Guid.CreateVersion7()}",
                Payload = "{}",
                OccurredAt = occurredAt,
                NextAttemptAt = occurredAt,
                Status = status,
            });
            await db.SaveChangesAsync();
        });

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        await Database.DisposeAsync();
    }
}
