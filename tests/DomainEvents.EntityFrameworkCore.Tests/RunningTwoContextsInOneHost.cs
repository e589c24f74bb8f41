using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A modular monolith: two DbContexts in one host, each with its outbox table (one in a schema of its own), each
/// registered in one line with a relay of its own. Each event is relayed once, from its own table, and a context that
/// fails does not hold up the other.
/// </summary>
[Category("Integration")]
public sealed class RunningTwoContextsInOneHost
{
    private TestDatabase _database = null!;
    private IHost _host = null!;
    private SendingRowsCommittedInThisProcess.RecordingTransport _transport = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _database = await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql);
        _transport = new SendingRowsCommittedInThisProcess.RecordingTransport();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_transport);
        builder.Services.AddSingleton<HandlerLog>();
        builder.Services.AddDbContext<OrderingDbContext>(o => _database.Configure(o));
        builder.Services.AddDbContext<InventoryDbContext>(o => _database.Configure(o));
        builder.Services.AddHealthChecks().AddDomainEventsHealthChecks();
        builder.Services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>())
            .AddEntityFrameworkOutbox<OrderingDbContext>().AddOutboxRelay<SendingRowsCommittedInThisProcess.RecordingTransport>(Fast)
            .AddEntityFrameworkOutbox<InventoryDbContext>().AddOutboxRelay<SendingRowsCommittedInThisProcess.RecordingTransport>(Fast);
        _host = builder.Build();
        await using (var scope = _host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrderingDbContext>().Database.EnsureCreatedAsync();
            await scope.ServiceProvider.GetRequiredService<InventoryDbContext>().GetService<IRelationalDatabaseCreator>().CreateTablesAsync();
        }

        await _host.StartAsync();
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        await _database.DisposeAsync();
    }

    [Test]
    public async Task Each_contexts_events_are_relayed_once_from_its_own_table()
    {
        var order = Order.Place("ada", 10m);
        var stock = Stock.Reserve(3);
        await SaveAsync<OrderingDbContext>(db => db.Orders.Add(order));
        await SaveAsync<InventoryDbContext>(db => db.Stocks.Add(stock));

        await WaitForAsync(() => _transport.Sent.Count >= 2);
        await Task.Delay(300);
        _transport.Sent.Select(e => (e.MessageType, e.PartitionKey)).Should().BeEquivalentTo([("order.placed", $"Order/{order.Id}"), ("stock.reserved", $"Stock/{stock.Id}")]);
        var ordering = await RowsAsync<OrderingDbContext>();
        var inventory = await RowsAsync<InventoryDbContext>();
        ordering.Should().ContainSingle().Which.Should().Match<OutboxMessage>(r => r.MessageType == "order.placed" && r.Status == OutboxMessageStatus.Processed);
        inventory.Should().ContainSingle().Which.Should().Match<OutboxMessage>(r => r.MessageType == "stock.reserved" && r.Status == OutboxMessageStatus.Processed);
        _transport.Sent.Select(e => e.MessageId).Should().BeEquivalentTo([ordering[0].MessageId, inventory[0].MessageId], "each row once, from its own table");

        await using var scope = _host.Services.CreateAsyncScope();
        (await scope.ServiceProvider.GetRequiredService<IOutboxAdministration<InventoryDbContext>>().CountAsync())[OutboxMessageStatus.Processed].Should().Be(1);
        var health = await scope.ServiceProvider.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "domainevents-outbox");
        health.Entries["domainevents-outbox"].Description.Should().Contain("OrderingDbContext: 0 pending").And.Contain("InventoryDbContext: 0 pending");
    }

    [Test]
    public async Task The_drain_waits_for_every_contexts_outbox()
    {
        await SaveAsync<InventoryDbContext>(db => db.Stocks.Add(Stock.Reserve(1)));
        await SaveAsync<OrderingDbContext>(db => db.Orders.Add(Order.Place("ada", 1m)));

        await _host.Services.GetRequiredService<DomainEvents.EntityFrameworkCore.Draining.IOutboxDrain>().DrainAsync(TimeSpan.FromSeconds(15));

        (await RowsAsync<OrderingDbContext>()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
        (await RowsAsync<InventoryDbContext>()).Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
    }

    [Test]
    public async Task A_context_whose_outbox_cannot_be_read_does_not_hold_up_the_other()
    {
        await using (var scope = _host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<InventoryDbContext>().Database.ExecuteSqlRawAsync($"DROP TABLE \"{InventoryDbContext.Schema}\".outbox_messages");
        }

        var order = Order.Place("ada", 10m);
        await SaveAsync<OrderingDbContext>(db => db.Orders.Add(order));

        await _host.Services.GetRequiredService<DomainEvents.EntityFrameworkCore.Draining.IOutboxDrain<OrderingDbContext>>().DrainAsync(TimeSpan.FromSeconds(15));
        _transport.Sent.Should().ContainSingle().Which.PartitionKey.Should().Be($"Order/{order.Id}");
        (await RowsAsync<OrderingDbContext>()).Should().ContainSingle().Which.Status.Should().Be(OutboxMessageStatus.Processed);

        await using var health = _host.Services.CreateAsyncScope();
        var report = await health.ServiceProvider.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "domainevents-outbox");
        report.Status.Should().Be(HealthStatus.Unhealthy, "the inventory outbox cannot be read");
        report.Entries["domainevents-outbox"].Description.Should().Contain("InventoryDbContext: The outbox could not be read.").And.Contain("OrderingDbContext: 0 pending");
    }

    private static void Fast(OutboxRelayOptions relay)
    {
        relay.PollingInterval = TimeSpan.FromMilliseconds(100);
        relay.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
        relay.MaxOutagePause = TimeSpan.FromMilliseconds(200);
    }

    private async Task SaveAsync<TContext>(Action<TContext> change)
        where TContext : DbContext
    {
        await using var scope = _host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        change(db);
        await db.SaveChangesAsync();
    }

    private async Task<List<OutboxMessage>> RowsAsync<TContext>()
        where TContext : DbContext
    {
        await using var scope = _host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<TContext>().Set<OutboxMessage>().AsNoTracking().OrderBy(m => m.Id).ToListAsync();
    }

    private static Task WaitForAsync(Func<bool> condition) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(15), "Timed out waiting for the relays.", TimeSpan.FromMilliseconds(50));
}
