using BenchmarkDotNet.Attributes;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Benchmarks.SaveChanges;

/// <summary>
/// SaveChangesAsync of one new aggregate that raised 0, 1 or 10 integration events, each written to the outbox in
/// the same transaction. One scope and one DbContext per save, as a request in an application has. A fresh
/// database per run (one BenchmarkDotNet process per case), dropped at the end.
/// </summary>
[MemoryDiagnoser]
public class SaveChangesBenchmarks
{
    private BenchmarkDatabase? _database;
    private ServiceProvider? _services;

    [Params(DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql)]
    public DatabaseProvider Provider { get; set; }

    [GlobalSetup]
    public async Task SetUp()
    {
        _database = await BenchmarkDatabase.CreateAsync(Provider);
        var services = new ServiceCollection();
        services.AddDbContext<ShopDbContext>(_database.Configure);
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<SaveChangesBenchmarks>())
            .AddEntityFrameworkOutbox<ShopDbContext>();
        _services = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true, ValidateOnBuild = true });

        await using (var scope = _services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ShopDbContext>().Database.EnsureCreatedAsync();
        }

        Console.WriteLine($"// Database: {await _database.DescribeAsync()}");
    }

    [GlobalCleanup]
    public async Task CleanUp()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Benchmark(Baseline = true)]
    public Task NoEvents() => SaveNewOrderAsync(0);

    [Benchmark]
    public Task OneEvent() => SaveNewOrderAsync(1);

    [Benchmark]
    public Task TenEvents() => SaveNewOrderAsync(10);

    /// <summary>
    /// Not our code path: the same new aggregate with no events, plus one outbox row built by hand and added to the
    /// same save. The floor for any outbox written in the same SaveChanges (a second INSERT, and a transaction
    /// around the two); <see cref="OneEvent"/> minus this is what the interceptor adds.
    /// </summary>
    [Benchmark]
    public async Task OneOutboxRowByHand()
    {
        await using var scope = _services!.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
        var order = Order.Create(0);
        db.Orders.Add(order);
        var now = DateTime.UtcNow;
        var messageId = Guid.CreateVersion7();
        db.Add(new OutboxMessage
        {
            MessageId = messageId,
            MessageType = "order.placed",
            Version = 1,
            Exchange = "order",
            RoutingKey = "order.placed",
            PartitionKey = "Order/" + order.Id,
            Payload = "{\"orderId\":\"" + order.Id + "\",\"customer\":\"" + order.Customer + "\",\"total\":129.90}",
            Headers = "{\"correlation-id\":\"" + messageId + "\"}",
            OccurredAt = now,
            Status = OutboxMessageStatus.Pending,
            NextAttemptAt = now,
        });
        await db.SaveChangesAsync();
    }

    private async Task SaveNewOrderAsync(int integrationEvents)
    {
        await using var scope = _services!.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
        db.Orders.Add(Order.Create(integrationEvents));
        await db.SaveChangesAsync();
    }
}
