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
        // and Grace's creation. Both are older than what the replica applied, so neither changes the copy.
        var rows = await host.OutboxAsync();
        var republished = new[]
        {
            rows.Single(r => r.MessageType == "customer.updated" && r.Payload.Contains("\"Ada L\"", StringComparison.Ordinal)),
            rows.Single(r => r.MessageType == "customer.created" && r.PartitionKey == $"Customer/{grace.Id}"),
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
        await WaitAsync(() => Task.FromResult(Volatile.Read(ref stale) == 2), "the replica skips both old messages");

        await WaitForCopyAsync(copies => copies.Count == 1 && copies[0].Name == "Ada Lovelace", "the old messages changed nothing");
        await using var billing = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
        var positions = await billing.Set<ReplicaPosition>().AsNoTracking().OrderBy(p => p.Deleted).ToListAsync();
        positions.Select(p => (p.Key, p.Deleted)).Should().Equal((ada.Id.ToString(), false), (grace.Id.ToString(), true));
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
