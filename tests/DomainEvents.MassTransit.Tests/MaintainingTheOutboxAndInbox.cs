using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

public sealed class MaintainingTheOutboxAndInbox : SqliteShopAndBillingFixture
{
    [Test]
    public async Task Processed_outbox_rows_and_inbox_rows_past_retention_are_deleted()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var options = InMemoryHost(runId, r =>
        {
            r.ProcessedRetention = TimeSpan.FromMilliseconds(300);
            r.CleanupInterval = TimeSpan.FromMilliseconds(100);
            r.CleanupBatchSize = 7;
        });
        options.ConfigureServices = s => s.AddHealthChecks().AddDomainEventsHealthChecks();
        options.Consumers.Add((typeof(OrdersConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "#").UseInbox<BillingDbContext>(i =>
        {
            i.Retention = TimeSpan.FromMilliseconds(300);
            i.Interval = TimeSpan.FromMilliseconds(100);
            i.BatchSize = 7;
        })));
        await using var host = await ServiceHost.StartAsync(options);

        await host.SaveAsync([.. Enumerable.Range(1, 30).Select(Order.Place)]);
        await host.Deliveries.WaitUntilAsync(d => d.All.Count == 30);

        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).Count == 0, seconds: 10);
        await using var billing = Billing();
        await RelayingToConsumers.WaitForAsync(async () => await billing.Set<InboxMessage>().CountAsync() == 0, seconds: 10);
        (await billing.Receipts.CountAsync()).Should().Be(30, "clean-up removes bookkeeping, never the consumer's own data");

        // The clean-up reports to the health check an operator reads.
        (await HealthProbe.WaitForAsync(host, "domainevents-inbox-cleanup", Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, TimeSpan.FromSeconds(5)))
            .Description.Should().Be("inbox clean-up (BillingDbContext): running");
    }

    [Test]
    public async Task Stopping_the_relay_leaves_no_row_leased()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var writer = await ServiceHost.StartAsync(new ServiceHostOptions { Transport = TestTransport.InMemory, ShopDatabase = Shop, RunId = runId, Relay = false });
        var orders = Enumerable.Range(0, 40).Select(_ => Order.Create()).ToArray();
        foreach (var order in orders)
        {
            for (var i = 1; i <= 25; i++)
            {
                order.PlaceAgain(i);
            }
        }

        await writer.SaveAsync(orders);
        await writer.DisposeAsync();

        var relay = await ServiceHost.StartAsync(new ServiceHostOptions { Transport = TestTransport.InMemory, ShopDatabase = Shop, RunId = runId, ConfigureRelay = r =>
        {
            r.BatchSize = 20;
            r.MaxConcurrentSends = 1;
        } });
        // Stopped as soon as the first row is processed, looked for every few milliseconds: on the in-memory transport the
        // relay can send the rest within one poll of the usual 200 ms.
        await using (var watch = new ShopDbContext(new DbContextOptionsBuilder<ShopDbContext>().UseSqlite(Shop.ConnectionString).Options))
        {
            var until = DateTime.UtcNow.AddSeconds(60);
            while (!await watch.Set<OutboxMessage>().AnyAsync(r => r.Status == OutboxMessageStatus.Processed))
            {
                DateTime.UtcNow.Should().BeBefore(until, "the relay processes a first row within 60 s");
                await Task.Delay(5);
            }
        }

        await relay.DisposeAsync();

        await using var db = new ShopDbContext(new DbContextOptionsBuilder<ShopDbContext>().UseSqlite(Shop.ConnectionString).Options);
        var rows = await db.Set<OutboxMessage>().AsNoTracking().ToListAsync();
        rows.Should().HaveCount(1000);
        rows.Should().OnlyContain(r => r.LeaseOwner == null && r.LeaseExpiresAt == null, "a stopping relay finishes or releases what it claimed");
        rows.Count(r => r.Status == OutboxMessageStatus.Processed).Should().BeInRange(1, 999, "the relay was stopped part way");
    }

    [Test]
    public async Task A_retention_longer_than_the_calendar_reaches_back_keeps_every_handled_message_id()
    {
        await using (var billing = Billing())
        {
            await billing.Database.EnsureCreatedAsync();
            billing.Set<InboxMessage>().Add(new InboxMessage { MessageId = Guid.NewGuid(), Consumer = "tally", ProcessedAt = DateTime.UtcNow.AddYears(-1) });
            await billing.SaveChangesAsync();
        }

        (await DeleteExpiredAsync(TimeSpan.MaxValue)).Should().Be(0);
        (await DeleteExpiredAsync(TimeSpan.FromDays(30))).Should().Be(1, "an id handled a year ago is past a retention of 30 days");
    }

    private async Task<int> DeleteExpiredAsync(TimeSpan retention)
    {
        var services = new ServiceCollection();
        services.AddDbContext<BillingDbContext>(o => o.UseSqlite(BillingDatabase.ConnectionString));
        await using var provider = services.BuildServiceProvider();
        var cleanup = new Consumers.InboxCleanupService<BillingDbContext>(
            provider.GetRequiredService<IServiceScopeFactory>(),
            new Consumers.InboxCleanupOptions { Retention = retention },
            TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Consumers.InboxCleanupService<BillingDbContext>>.Instance);
        return await cleanup.DeleteExpiredAsync(CancellationToken.None);
    }
}
