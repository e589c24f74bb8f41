using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.MassTransit.Tests.Model;
using MassTransit;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
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

    [TestCase(false, TestName = "A consumer that catches a failed statement sent past EF Core fails the message and commits nothing (the COMMIT's round trip finds it)")]
    [TestCase(true, TestName = "A consumer that catches a failed statement sent past EF Core fails the message and commits nothing (with a transaction interceptor after the inbox's, a check before the commit finds it)")]
    public async Task A_consumer_that_catches_a_failed_statement_sent_past_EF_Core_fails_the_message_and_commits_nothing(bool interceptorAfterTheInbox)
    {
        await SeedAsync();
        var before = new CountingCommits();
        var after = new CountingCommits();
        var host = await StartAsync(relay: true, o =>
        {
            o.Consumers.Add((typeof(CatchingAnAdoNetStatementConsumer), c =>
            {
                c.Bind(Exchange, "order.*");
                c.QueueName = Queue("catching-ado");
                c.UseInbox<BillingDbContext>();
            }));
            o.ConfigureBilling = b => b.AddInterceptors(before);
            if (interceptorAfterTheInbox)
            {
                o.ConfigureMassTransit = x => x.ConfigureDbContext<BillingDbContext>((_, b) => b.AddInterceptors(after));
            }
        });

        await host.SaveAsync(Order.Place(1));

        var error = (await WireTap.DrainAsync(Queue("catching-ado") + "_error", expected: 1)).Should().ContainSingle().Subject;
        error.Header("MT-Fault-ExceptionType").Should().Be(typeof(InboxTransactionAbortedException).FullName, "a COMMIT would have rolled back in silence and the message been acknowledged");
        error.Header("MT-Fault-Message").Should().Contain("past EF Core");
        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(0, "nothing of the message was committed");
        (await check.Tallies.SingleAsync(t => t.Name == "orders")).Count.Should().Be(0);
        (await check.Set<InboxMessage>().CountAsync()).Should().Be(0, "the message is not recorded as handled: it can be moved back and handled");
        Volatile.Read(ref _runs).Should().Be(1, "no savepoint of EF Core's covers a statement sent past it: running the consumer again would not help");
        after.Committing.Should().Be(0);
        before.Committed.Should().Be(0, "an interceptor before the inbox's never hears of a commit");
        before.Committing.Should().Be(interceptorAfterTheInbox ? 0 : 1);
        before.Failed.Should().Be(interceptorAfterTheInbox ? 0 : 1, "the inbox's commit failed in EF Core's");
    }

    [Test]
    public async Task A_COMMIT_the_database_refuses_fails_the_message_with_its_own_error_and_commits_nothing()
    {
        await SeedAsync();
        await using (var setup = BillingContext())
        {
            // A deferred constraint is checked at COMMIT, after the statement that checks the transaction.
            var receipts = setup.Model.FindEntityType(typeof(Receipt))!.GetTableName();
            var refuse = "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$; "
                         + $"CREATE CONSTRAINT TRIGGER refuse_receipts AFTER INSERT ON \"{receipts}\" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit();";
            await setup.Database.ExecuteSqlRawAsync(refuse);
        }

        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(RecordingConsumer), c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("refused-commit");
            c.UseInbox<BillingDbContext>();
        })));

        await host.SaveAsync(Order.Place(1));

        var error = (await WireTap.DrainAsync(Queue("refused-commit") + "_error", expected: 1)).Should().ContainSingle().Subject;
        error.Header("MT-Fault-ExceptionType").Should().Be(typeof(PostgresException).FullName, "the COMMIT's own error, not an aborted transaction");
        error.Header("MT-Fault-Message").Should().Contain("refused at commit");
        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(0);
        (await check.Set<InboxMessage>().CountAsync()).Should().Be(0);
        Volatile.Read(ref _runs).Should().Be(1);
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
    internal static async Task InsertUnlessThereAsync(BillingDbContext billing)
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

    /// <summary>Saves its work, then catches the failure of a statement it sends on the context's connection itself, as Dapper would.</summary>
    public sealed class CatchingAnAdoNetStatementConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            await RecordAsync(billing, context);
            await using var command = billing.Database.GetDbConnection().CreateCommand();
            command.Transaction = billing.Database.CurrentTransaction!.GetDbTransaction();
            command.CommandText = "SELECT 1/0";
            try
            {
                await command.ExecuteNonQueryAsync();
            }
            catch (PostgresException)
            {
            }
        }
    }

    public sealed class RecordingConsumer(BillingDbContext billing) : IConsumer<OrderPlaced>
    {
        public async Task Consume(ConsumeContext<OrderPlaced> context)
        {
            Interlocked.Increment(ref _runs);
            await RecordAsync(billing, context);
        }
    }

    private sealed class CountingCommits : DbTransactionInterceptor
    {
        private int _committing;
        private int _committed;
        private int _failed;

        public int Committing => Volatile.Read(ref _committing);

        public int Committed => Volatile.Read(ref _committed);

        public int Failed => Volatile.Read(ref _failed);

        public override ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _committing);
            return ValueTask.FromResult(result);
        }

        public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _committed);
            return Task.CompletedTask;
        }

        public override Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _failed);
            return Task.CompletedTask;
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
