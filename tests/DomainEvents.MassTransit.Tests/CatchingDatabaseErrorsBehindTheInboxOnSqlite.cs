using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A consumer behind the inbox, on SQLite, that catches a failed save and goes on. SQLite has no aborted transaction: the
/// statements of the failed save that ran before the failing one stay in the inbox's transaction, and EF Core, which did not
/// accept the save, sends them again with the next one.
/// </summary>
public sealed class CatchingDatabaseErrorsBehindTheInboxOnSqlite : SqliteShopAndBillingFixture
{
    private static int _runs;

    [Test]
    public async Task A_consumer_that_catches_a_failed_two_table_save_has_its_effects_committed_once()
    {
        Volatile.Write(ref _runs, 0);
        var runId = Guid.NewGuid().ToString("N")[..10];
        var options = InMemoryHost(runId);
        options.Consumers.Add((typeof(CatchingATwoTableSaveConsumer), c => c.Bind(ServiceHost.ExchangeFor(runId), "order.*").UseInbox<BillingDbContext>()));
        await using var host = await ServiceHost.StartAsync(options);
        await using (var seed = Billing())
        {
            seed.Tallies.Add(new Tally { Name = "orders" });
            seed.Tallies.Add(new Tally { Name = "taken" });
            await seed.SaveChangesAsync();
        }

        await host.SaveAsync(Order.Place(1));

        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = Billing();
            return await billing.Set<InboxMessage>().CountAsync() == 1;
        });
        await using var check = Billing();
        (await check.Receipts.CountAsync()).Should().Be(1, "the receipt of the failed save is not kept and then inserted again");
        (await check.Tallies.SingleAsync(t => t.Name == "orders")).Count.Should().Be(1);
        Volatile.Read(ref _runs).Should().Be(2, "the consumer ran again with EF Core's savepoints, which undo a failed save");
    }

    /// <summary>One save of two tables whose second insert breaks a unique key; the consumer catches it, detaches that row and goes on.</summary>
    public sealed class CatchingATwoTableSaveConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            billing.Receipts.Add(new Receipt { Consumer = "catching", MessageId = context.MessageId!.Value, OrderId = context.Message.OrderId, Sequence = context.Message.Sequence });
            await CatchingDatabaseErrorsBehindTheInbox.InsertUnlessThereAsync(billing);   // saves the receipt too: one save of two tables

            (await billing.Tallies.SingleAsync(t => t.Name == "orders")).Count++;
            await billing.SaveChangesAsync();
        }
    }
}
