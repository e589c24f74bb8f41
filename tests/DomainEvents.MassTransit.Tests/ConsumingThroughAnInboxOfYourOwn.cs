using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using DomainEvents.ThirdPartyDatabase;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// Consumers behind the inbox, on a database served by an <see cref="IInboxDatabase"/> written outside the library
/// (tests/DomainEvents.ThirdPartyDatabase, which sees no internals): the inbox and the ledger of handled keys go through
/// its statements, and a message delivered again still has its effect once.
/// </summary>
public sealed class ConsumingThroughAnInboxOfYourOwn : SqliteShopAndBillingFixture
{
    [Test]
    public async Task The_inbox_and_the_key_ledger_run_the_providers_statements_and_a_redelivered_message_has_its_effect_once()
    {
        var inbox = new CountingSqliteInbox();
        var runId = Guid.NewGuid().ToString("N")[..10];
        var options = InMemoryHost(runId);
        options.ConfigureServices = s => s.AddSingleton<IInboxDatabase>(inbox);
        var exchange = ServiceHost.ExchangeFor(runId);
        options.Consumers.Add((typeof(OrdersConsumer), c => c.Bind(exchange, "order.*").UseInbox<BillingDbContext>()));
        options.Consumers.Add((typeof(TallyingConsumer), c => c.Bind(exchange, "order.*").UseInbox<BillingDbContext>().OncePerKey<OrderPlaced>(m => $"order:{m.OrderId}")));
        options.Consumers.Add((typeof(EverythingConsumer), c => c.Bind(exchange, "#")));
        await using var host = await ServiceHost.StartAsync(options);
        await using (var seed = Billing())
        {
            seed.Tallies.Add(new Tally { Name = "orders" });
            await seed.SaveChangesAsync();
        }

        // Two messages with one key (the order placed twice) and one more order.
        var twice = Order.Place(1);
        twice.PlaceAgain(2);
        var once = Order.Place(1);
        await host.SaveAsync(twice, once);
        await host.Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Count == 3 && d.Of(nameof(OrdersConsumer)).Count == 3);
        await RelayingToConsumers.WaitForAsync(async () => (await host.OutboxAsync()).All(r => r.Status == OutboxMessageStatus.Processed));

        // Every message again, as a relay that crashed before recording the confirms would send them.
        await host.InScopeAsync(db => db.Set<OutboxMessage>().ExecuteUpdateAsync(s => s.SetProperty(m => m.Status, OutboxMessageStatus.Pending)));
        await host.Deliveries.WaitUntilAsync(d => d.Of(nameof(EverythingConsumer)).Count == 6, because: "the consumer without inbox sees every copy");
        await RelayingToConsumers.WaitForAsync(() => Task.FromResult(inbox.Calls.GetValueOrDefault("insert") >= 6 && inbox.Calls.GetValueOrDefault("take-key") >= 6), seconds: 10);

        host.Deliveries.Of(nameof(OrdersConsumer)).Should().HaveCount(3, "the provider's inbox skipped the copies");
        host.Deliveries.Of(nameof(TallyingConsumer)).Should().HaveCount(2, "one effect per key");
        await using var billing = Billing();
        // Found through the model by the outbox's message ids: the provider stored them as EF Core does.
        var messageIds = (await host.OutboxAsync()).Select(r => r.MessageId).ToList();
        (await billing.Set<InboxMessage>().CountAsync(m => messageIds.Contains(m.MessageId))).Should().Be(3);
        (await billing.Set<HandledEventKey>().Select(k => k.Key).ToListAsync()).Should().BeEquivalentTo([$"order:{twice.Id}", $"order:{once.Id}"]);
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(TallyingConsumer))).Should().Be(2);
    }
}
