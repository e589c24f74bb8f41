using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A consumer behind the inbox that catches a database error and goes on. On PostgreSQL the error aborts the inbox's
/// transaction, whose COMMIT then rolls back without an error: the message must not be acknowledged with nothing stored.
/// </summary>
public sealed class CatchingDatabaseErrorsBehindTheInbox : RabbitMqFixture
{
    private static int _runs;

    [TestCase(typeof(CatchingTheLastSaveConsumer))]
    [TestCase(typeof(CatchingAnEarlierSaveConsumer))]
    [TestCase(typeof(CatchingATwoTableSaveConsumer))]
    public async Task A_consumer_that_catches_a_failed_save_has_its_effects_committed_once(Type consumer)
    {
        await SeedAsync();
        var host = await StartAsync(relay: true, o => o.Consumers.Add((consumer, c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("catching");
            c.UseInbox<BillingDbContext>();
        })));

        await host.SaveAsync(Order.Place(1));

        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = BillingContext();
            return await billing.Set<InboxMessage>().CountAsync() == 1;
        });
        await Task.Delay(500);   // a second application would land now

        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(1, "the consumer's effects are committed with the inbox row");
        (await check.Tallies.SingleAsync(t => t.Name == "orders")).Count.Should().Be(1);
        Volatile.Read(ref _runs).Should().Be(2, "the first run's transaction was aborted by the caught error; the second ran with EF Core's savepoints");
        (await WireTap.DepthAsync(Queue("catching") + "_error")).Should().Be(0);
    }

    [Test]
    public async Task A_consumer_that_catches_a_failed_statement_fails_the_message_and_commits_nothing()
    {
        await SeedAsync();
        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(CatchingAStatementConsumer), c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("catching-sql");
            c.UseInbox<BillingDbContext>();
        })));

        await host.SaveAsync(Order.Place(1));

        var error = (await WireTap.DrainAsync(Queue("catching-sql") + "_error", expected: 1)).Should().ContainSingle().Subject;
        error.Header("MT-Fault-ExceptionType").Should().Be(typeof(InboxTransactionAbortedException).FullName, "the error queue names why the message failed");
        error.Header("MT-Fault-Message").Should().Contain("division by zero");
        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(0, "nothing of the message was committed");
        (await check.Set<InboxMessage>().CountAsync()).Should().Be(0, "the message is not recorded as handled: it can be moved back and handled");
        Volatile.Read(ref _runs).Should().Be(2, "once without savepoints, once with them, then the message fails");
    }

    private async Task SeedAsync()
    {
        Volatile.Write(ref _runs, 0);
        await using var seed = BillingContext();
        await seed.Database.EnsureCreatedAsync();
        seed.Tallies.Add(new Tally { Name = "orders" });
        seed.Tallies.Add(new Tally { Name = "taken" });
        await seed.SaveChangesAsync();
    }

    private BillingDbContext BillingContext() => new(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);

    private static async Task RecordAsync(BillingDbContext billing, ConsumeContext<OrderPlaced> context)
    {
        billing.Receipts.Add(new Receipt { Consumer = "catching", MessageId = context.MessageId!.Value, OrderId = context.Message.OrderId, Sequence = context.Message.Sequence });
        (await billing.Tallies.SingleAsync(t => t.Name == "orders")).Count++;
        await billing.SaveChangesAsync();
    }

    /// <summary>The "insert unless it is there" idiom: try the insert, catch the unique violation, detach and go on.</summary>
    private static async Task InsertUnlessThereAsync(BillingDbContext billing)
    {
        var taken = new Tally { Name = "taken" };
        billing.Tallies.Add(taken);
        try
        {
            await billing.SaveChangesAsync();
        }
        catch (DbUpdateException)
        {
            billing.Entry(taken).State = EntityState.Detached;
        }
    }

    public sealed class CatchingTheLastSaveConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            await RecordAsync(billing, context);
            await InsertUnlessThereAsync(billing);
        }
    }

    public sealed class CatchingAnEarlierSaveConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            await InsertUnlessThereAsync(billing);
            await RecordAsync(billing, context);
        }
    }

    /// <summary>One save of two tables whose second insert breaks a unique key; the consumer catches it and goes on.</summary>
    public sealed class CatchingATwoTableSaveConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            billing.Receipts.Add(new Receipt { Consumer = "catching", MessageId = context.MessageId!.Value, OrderId = context.Message.OrderId, Sequence = context.Message.Sequence });
            await InsertUnlessThereAsync(billing);   // saves the receipt too: one save of two tables
            (await billing.Tallies.SingleAsync(t => t.Name == "orders")).Count++;
            await billing.SaveChangesAsync();
        }
    }

    public sealed class CatchingAStatementConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            await RecordAsync(billing, context);
            try
            {
                await billing.Database.ExecuteSqlRawAsync("SELECT 1/0");
            }
            catch (PostgresException)
            {
            }
        }
    }
}
