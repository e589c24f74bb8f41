using Microsoft.Extensions.DependencyInjection;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// A consumer that handles each business key once: several messages with the same key (different message ids, handled
/// at once by a consumer that does not keep order) have their effect once; the key is in the ledger of handled keys.
/// </summary>
public sealed class HandlingEachKeyOnce : RabbitMqFixture
{
    [Test]
    public async Task Six_messages_of_one_order_handled_concurrently_count_it_once()
    {
        await using (var seed = BillingDb())
        {
            await seed.Database.EnsureCreatedAsync();
            seed.Tallies.Add(new Tally { Name = "orders" });
            await seed.SaveChangesAsync();
        }

        var host = await StartAsync(relay: true, o => o.Consumers.Add((typeof(TallyingConsumer), c =>
        {
            c.Bind(Exchange, "order.*");
            c.QueueName = Queue("tally-once");
            c.KeepOrder = false;
            c.UseInbox<BillingDbContext>().OncePerKey<OrderPlaced>(m => $"order:{m.OrderId}");
        })));

        // One order placed six times over (six messages, six ids, one key) and another order once.
        var again = Order.Place(1);
        for (var i = 2; i <= 6; i++)
        {
            again.PlaceAgain(i);
        }

        var once = Order.Place(1);
        await host.SaveAsync(again, once);

        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == EntityFrameworkCore.Outbox.OutboxMessageStatus.Processed));
        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = BillingDb();
            return await billing.Set<HandledEventKey>().CountAsync() == 2 && await billing.Receipts.CountAsync() >= 2;
        });
        await Task.Delay(500);

        await using var check = BillingDb();
        // (Receipts, not the tally: two orders handled at once would race on the tally's one row, a lost update of the
        // test consumer's own making.)
        (await check.Receipts.Select(r => r.OrderId).ToListAsync()).Should().BeEquivalentTo([again.Id, once.Id], "each order is handled once, however many messages name it");
        var keys = await check.Set<HandledEventKey>().ToListAsync();
        keys.Select(k => k.Key).Should().BeEquivalentTo([$"order:{again.Id}", $"order:{once.Id}"], "the ledger holds the keys as given");
        keys.Should().OnlyContain(k => k.Handler == typeof(TallyingConsumer).FullName && k.EventType == "order.placed");
        (await check.Set<InboxMessage>().CountAsync()).Should().Be(0, "a keyed message is recorded by its key, not its id");
    }

    private BillingDbContext BillingDb() => new(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
}
