using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A database fail-over in the middle of a consumer's unit of work: the execution strategy runs the inbox's transaction
/// again, and the consumer's effects must still happen exactly once.
/// </summary>
public sealed class SurvivingDatabaseFailuresInTheInbox : RabbitMqFixture
{
    [TestCase(FaultAt.Save)]
    [TestCase(FaultAt.Commit)]
    public async Task A_transient_failure_inside_the_inbox_transaction_applies_the_effects_exactly_once(FaultAt where)
    {
        var faults = new TransientFault(where);
        await using (var seed = BillingContext())
        {
            await seed.Database.EnsureCreatedAsync();
            seed.Tallies.Add(new Tally { Name = "orders" });
            await seed.SaveChangesAsync();
        }

        var host = await StartAsync(relay: true, o =>
        {
            o.Consumers.Add((typeof(TallyingConsumer), c =>
            {
                c.Bind(Exchange, "order.*");
                c.QueueName = Queue("tally");
                c.UseInbox<BillingDbContext>();
            }));
            o.ConfigureBilling = b => b.AddInterceptors(faults);
            o.BillingNpgsql = n => n.EnableRetryOnFailure(3, TimeSpan.FromMilliseconds(100), null);
        });

        var orders = Enumerable.Range(1, 3).Select(Order.Place).ToArray();
        await host.SaveAsync(orders);

        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = BillingContext();
            return await billing.Set<InboxMessage>().CountAsync() == 3;
        });
        await Task.Delay(500);   // any second application would land now

        faults.Injected.Should().BeTrue("one transient failure was injected at {0}", where);
        await using var check = BillingContext();
        (await check.Receipts.CountAsync()).Should().Be(3, "each message stores one receipt");
        (await check.Tallies.SingleAsync()).Count.Should().Be(3, "each message increments the tally once");
        (await check.Set<InboxMessage>().CountAsync()).Should().Be(3);
    }

    private BillingDbContext BillingContext() => new(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);

    public enum FaultAt
    {
        Save,
        Commit,
    }

    /// <summary>Fails the consumer's first save or first commit with the error a dropped connection gives.</summary>
    private sealed class TransientFault(FaultAt where) : DbCommandInterceptor, IDbTransactionInterceptor
    {
        private int _injected;

        public bool Injected => _injected == 1;

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (where == FaultAt.Save && command.CommandText.Contains("\"Receipts\"", StringComparison.Ordinal) && Interlocked.Exchange(ref _injected, 1) == 0)
            {
                throw Transient();
            }

            return ValueTask.FromResult(result);
        }

        public ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
        {
            if (where == FaultAt.Commit && Interlocked.Exchange(ref _injected, 1) == 0)
            {
                throw Transient();
            }

            return ValueTask.FromResult(result);
        }

        private static NpgsqlException Transient() => new("injected: the connection was reset", new IOException("connection reset"));
    }
}
