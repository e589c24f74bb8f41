using DomainEvents.EntityFrameworkCore.Interception;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.MassTransit.Tests.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// Keyed domain events raised in consumers behind the inbox: two messages handled at once whose saves raise the same key
/// both find it free and dispatch; the ledger's key lets one commit. The other is run again by the inbox, finds the key
/// handled and skips the event, and its own work is done: the message is not dead-lettered.
/// </summary>
public sealed class HandlingKeyedEventsInConsumers : RabbitMqFixture
{
    [Test]
    public async Task Two_consumers_that_raise_one_key_at_once_both_commit_their_work_and_the_key_is_handled_once()
    {
        RecordFirstReceipt.Reset();
        var queue = Queue("day-receipts");
        var host = await StartAsync(relay: true, o =>
        {
            o.Consumers.Add((typeof(DayReceiptConsumer), c =>
            {
                c.Bind(Exchange, "order.placed");
                c.QueueName = queue;
                c.KeepOrder = false;
                c.UseInbox<BillingDbContext>();
            }));
            o.ConfigureEvents = e => e.AddHandlersFromAssemblyContaining<RecordFirstReceipt>();
            o.ConfigureServices = s => s.ConfigureDbContext<BillingDbContext>((sp, b) => b.AddInterceptors(sp.GetRequiredService<DomainEventsInterceptor>()));
        });

        var first = Order.Place(1);
        var second = Order.Place(1);
        await host.SaveAsync(first, second);

        await RelayingToConsumers.WaitForAsync(async () =>
        {
            await using var billing = BillingDb();
            return await billing.Set<DayReceipt>().CountAsync() == 2;
        });
        await Task.Delay(500);

        RecordFirstReceipt.Met.Should().BeTrue("both saves dispatched the event before either committed");
        await using var check = BillingDb();
        (await check.Set<DayReceipt>().Select(r => r.OrderId).ToListAsync()).Should().BeEquivalentTo([first.Id, second.Id], "each consumer's own work is done once");
        (await check.Receipts.CountAsync(r => r.Consumer == $"first-receipt:{DayReceiptConsumer.Day}")).Should().Be(1, "the keyed event is handled once");
        (await check.Set<HandledEventKey>().Select(k => k.Key).ToListAsync()).Should().Equal($"first-receipt:{DayReceiptConsumer.Day}");
        (await WireTap.DepthAsync(queue + "_error")).Should().Be(0, "the message that lost the key is not dead-lettered");
    }

    private BillingDbContext BillingDb() => new(new DbContextOptionsBuilder<BillingDbContext>().UseNpgsql(Billing.ConnectionString).Options);
}
