using System.Diagnostics.Metrics;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Replicas;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A replica consumer keeps Billing's copy of the shop's customers from their change events: customers appear, change
/// and disappear, and an old message delivered again (duplicated, or republished by hand with a new id) changes nothing.
/// </summary>
public sealed class KeepingAReplica : RabbitMqFixture
{
    [Test]
    public async Task The_copy_ends_equal_to_the_source_whatever_old_messages_arrive_again()
    {
        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(CustomerReplica), c =>
        {
            c.Bind(ShopDbContext.CustomersExchange, "customer.*");
            c.QueueName = Queue("customer-replica");
            c.Accept<CustomerChange>("customer.created", "customer.updated", "customer.deleted");
            c.UseInbox<BillingDbContext>();
        })));
        var stale = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "domainevents.replica.stale")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Value is string replica && replica.EndsWith(nameof(CustomerReplica), StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref stale);
                }
            }
        });
        listener.Start();

        var ada = new Customer { Name = "Ada" };
        var grace = new Customer { Name = "Grace" };
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
            db.Customers.AddRange(ada, grace);
            await db.SaveChangesAsync();
            ada.Name = "Ada L";
            await db.SaveChangesAsync();
            ada.Name = "Ada Lovelace";
            await db.SaveChangesAsync();
            db.Customers.Remove(grace);
            await db.SaveChangesAsync();
        }

        await WaitForCopyAsync(copies => copies.Count == 1 && copies[0].Name == "Ada Lovelace", "the copy follows the source");

        // Old states published again by hand, with new message ids, so the inbox does not know them: Ada's first rename
        // and Grace's creation. Both are older than what the replica applied, so neither changes the copy. And an update of
        // Grace at the very position of her deletion (a version number that a deletion keeps, a time of a coarse clock):
        // the deletion wins, and Grace does not come back.
        var rows = await host.OutboxAsync();
        var graceDeleted = rows.Single(r => r.MessageType == "customer.deleted" && r.PartitionKey == $"Customer/{grace.Id}");
        var graceCreated = rows.Single(r => r.MessageType == "customer.created" && r.PartitionKey == $"Customer/{grace.Id}");
        var republished = new[]
        {
            rows.Single(r => r.MessageType == "customer.updated" && r.Payload.Contains("\"Ada L\"", StringComparison.Ordinal)),
            graceCreated,
            new OutboxMessage
            {
                MessageType = "customer.updated", Version = graceCreated.Version, Exchange = graceCreated.Exchange, RoutingKey = "customer.updated",
                PartitionKey = graceCreated.PartitionKey, Payload = graceCreated.Payload, Headers = graceCreated.Headers, OccurredAt = graceDeleted.OccurredAt,
            },
        };
        await host.InScopeAsync(async db =>
        {
            foreach (var row in republished)
            {
                db.Add(new OutboxMessage
                {
                    MessageId = Guid.CreateVersion7(), MessageType = row.MessageType, Version = row.Version, Exchange = row.Exchange, RoutingKey = row.RoutingKey,
                    PartitionKey = row.PartitionKey, Payload = row.Payload, Headers = row.Headers, OccurredAt = row.OccurredAt, NextAttemptAt = row.OccurredAt,
                    Status = OutboxMessageStatus.Pending,
                });
            }

            return await db.SaveChangesAsync();
        });
        await WaitAsync(() => Task.FromResult(Volatile.Read(ref stale) == 3), "the replica skips the three old messages");

        await WaitForCopyAsync(copies => copies.Count == 1 && copies[0].Name == "Ada Lovelace", "the old messages changed nothing");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        var positions = await billing.Set<ReplicaPosition>().AsNoTracking().OrderBy(p => p.Deleted).ToListAsync();
        positions.Select(p => (p.Key, p.Deleted)).Should().Equal((ada.Id.ToString(), false), (grace.Id.ToString(), true));
    }

    [Test]
    public async Task A_copy_another_endpoint_applies_at_the_same_time_makes_this_attempt_run_again_instead_of_failing()
    {
        var race = new AnotherEndpointWinsOnce(Billing.ConnectionString);
        var host = await StartAsync(relay: true, o =>
        {
            o.ConfigureBilling = b => b.AddInterceptors(race);
            o.Consumers.Add((typeof(CustomerReplica), c =>
            {
                c.Bind(ShopDbContext.CustomersExchange, "customer.*");
                c.QueueName = Queue("customer-replica-race");
                c.Accept<CustomerChange>("customer.created", "customer.updated", "customer.deleted");
                c.UseInbox<BillingDbContext>();
                c.TransientDatabaseRetryIntervals = [TimeSpan.FromMilliseconds(100)];
            }));
        });

        var ada = new Customer { Name = "Ada" };
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
            db.Customers.Add(ada);
            await db.SaveChangesAsync();
        }

        // The other endpoint's copy is a later position of the same key, committed while this one was saving: this attempt
        // fails on the position, runs again, reads the later position and skips the message as old.
        await WaitAsync(async () =>
        {
            await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
            return await billing.Set<DomainEvents.EntityFrameworkCore.Inbox.InboxMessage>().CountAsync() == 1;
        }, "the message is handled, not moved to the error queue");
        race.Raced.Should().BeTrue();
        await using var check = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        (await check.Set<ReplicaPosition>().SingleAsync()).Position.Should().Be(long.MaxValue, "the other endpoint's later position stands");
        (await check.Customers.CountAsync()).Should().Be(0, "the attempt that ran again found its message old");
    }

    /// <summary>Before the replica's first save reaches the database, another endpoint commits a later position of the key.</summary>
    private sealed class AnotherEndpointWinsOnce(string connectionString) : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        public bool Raced { get; private set; }

        public override async ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(
            System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (!Raced && command.CommandText.Contains("INSERT INTO replica_positions", StringComparison.Ordinal))
            {
                Raced = true;
                await using var other = new Npgsql.NpgsqlConnection(connectionString);
                await other.OpenAsync(cancellationToken);
                await using var insert = other.CreateCommand();
                insert.CommandText = "INSERT INTO replica_positions (replica, key, position, deleted, applied_at) VALUES (@replica, @key, @position, false, now())";
                insert.Parameters.AddWithValue("replica", typeof(CustomerReplica).FullName!);
                insert.Parameters.AddWithValue("key", FindKey(command));
                insert.Parameters.AddWithValue("position", long.MaxValue);
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }

            return result;
        }

        /// <summary>The position's key: the one text parameter of the batch that is a customer id.</summary>
        private static string FindKey(System.Data.Common.DbCommand command) =>
            command.Parameters.Cast<System.Data.Common.DbParameter>().Select(p => p.Value).OfType<string>().First(v => Guid.TryParse(v, out _));
    }

    [Test]
    public async Task A_save_the_database_refuses_for_the_message_itself_goes_to_the_error_queue_with_its_error_not_as_a_conflict()
    {
        var queue = Queue("customer-replica-nameless");
        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(NamelessCustomerReplica), c =>
        {
            c.Bind(ShopDbContext.CustomersExchange, "customer.*");
            c.QueueName = queue;
            c.Accept<CustomerChange>("customer.created", "customer.updated", "customer.deleted");
            c.UseInbox<BillingDbContext>();

            // A conflict would be run again on each interval, 20 s in all, before it went to the error queue.
            c.TransientDatabaseRetryIntervals = [TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10)];
        })));

        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDbContext>();
            db.Customers.Add(new Customer { Name = "Ada" });
            await db.SaveChangesAsync();
        }

        var error = (await WireTap.DrainAsync(queue + "_error", expected: 1, TimeSpan.FromSeconds(8))).Should().ContainSingle().Subject;
        // MassTransit names the innermost exception: the database's own error, which says what is wrong with the message.
        error.Header("MT-Fault-ExceptionType").Should().Be(typeof(Npgsql.PostgresException).FullName);
        error.Header("MT-Fault-Message").Should().Contain("violates not-null constraint").And.NotContain("applied at the same time");
    }

    private async Task WaitForCopyAsync(Func<List<CustomerCopy>, bool> condition, string because) =>
        await WaitAsync(async () =>
        {
            await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
            return condition(await billing.Customers.AsNoTracking().ToListAsync());
        }, because);

    private static async Task WaitAsync(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out: {because}.");
            }

            await Task.Delay(100);
        }
    }
}
