using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests;

/// <summary>A fresh SQLite shop and billing database for each test, for hosts on the in-memory transport.</summary>
public abstract class SqliteShopAndBillingFixture
{
    protected TestDatabase Shop { get; private set; } = null!;

    protected TestDatabase BillingDatabase { get; private set; } = null!;

    [SetUp]
    public async Task CreateDatabasesAsync()
    {
        Shop = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
        BillingDatabase = await TestDatabase.CreateAsync(DatabaseProvider.Sqlite);
    }

    [TearDown]
    public async Task DropDatabasesAsync()
    {
        await Shop.DisposeAsync();
        await BillingDatabase.DisposeAsync();
    }

    /// <summary>A host of these databases on the in-memory transport; add its consumers.</summary>
    protected ServiceHostOptions InMemoryHost(string runId, Action<DomainEvents.EntityFrameworkCore.Relay.OutboxRelayOptions>? relay = null) =>
        new() { Transport = TestTransport.InMemory, ShopDatabase = Shop, BillingDatabase = BillingDatabase, RunId = runId, ConfigureRelay = relay };

    /// <summary>A context on the billing database, outside the host.</summary>
    protected BillingDbContext Billing() => new(new DbContextOptionsBuilder<BillingDbContext>().UseSqlite(BillingDatabase.ConnectionString).Options);
}
