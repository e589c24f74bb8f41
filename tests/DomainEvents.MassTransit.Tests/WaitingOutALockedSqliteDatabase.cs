using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// SQLite has one writer at a time: an inbox consumer whose transaction cannot start because another writer holds the
/// database for longer than its busy timeout ("database is locked") has a database that is busy, not a bad message. The
/// inbox tries it again after its waits, and the message is applied once the writer lets go.
/// </summary>
public sealed class WaitingOutALockedSqliteDatabase : SqliteShopAndBillingFixture
{
    [Test]
    public async Task A_database_another_writer_holds_past_the_busy_timeout_is_waited_out_and_the_message_applied_once()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var options = InMemoryHost(runId);
        // One second of waiting for the lock per attempt, where the default is thirty.
        options.ConfigureBilling = o => o.UseSqlite(BillingDatabase.ConnectionString + ";Default Timeout=1");
        options.Consumers.Add((typeof(TallyingConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "order.*").UseInbox<BillingDbContext>()));
        await using var host = await ServiceHost.StartAsync(options);
        await using (var seed = Billing())
        {
            seed.Tallies.Add(new Tally { Name = "orders" });
            await seed.SaveChangesAsync();
        }

        await using (var holder = new SqliteConnection(BillingDatabase.ConnectionString))
        {
            await holder.OpenAsync();
            await using var writing = holder.BeginTransaction(deferred: false);
            await host.SaveAsync(Order.Place(1));
            await Task.Delay(TimeSpan.FromSeconds(4));
            writing.Rollback();
        }

        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = Billing();
            return await billing.Set<InboxMessage>().CountAsync() == 1;
        }, seconds: 30);
        await using var after = Billing();
        (await after.Receipts.CountAsync()).Should().Be(1, "the message was applied once the writer let go");
        (await after.Tallies.SingleAsync(t => t.Name == "orders")).Count.Should().Be(1);
    }
}
