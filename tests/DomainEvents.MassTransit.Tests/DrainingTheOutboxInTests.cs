using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// What a user's integration test does instead of Task.Delay: save, drain, then assert on what the consumers did.
/// Every assertion here comes straight after DrainAsync, with no waiting of its own.
/// </summary>
[TestFixture(TestTransport.InMemory, DatabaseProvider.Sqlite)]
[TestFixture(TestTransport.RabbitMq, DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class DrainingTheOutboxInTests(TestTransport transport, DatabaseProvider provider) : OrdersAndEverythingFixture(transport, provider)
{
    private IOutboxDrain Drain => Host.Services.GetRequiredService<IOutboxDrain>();

    [Test]
    public async Task Draining_until_consumed_returns_once_every_bound_consumer_has_handled_and_committed_what_was_saved()
    {
        var orders = Enumerable.Range(1, 5).Select(Order.Place).ToArray();
        await Host.SaveAsync([.. orders, Invoice.Pay(10m)]);

        await Drain.DrainAsync(TimeSpan.FromSeconds(20), OutboxDrainUntil.Consumed);

        (await Host.OutboxAsync()).Should().HaveCount(6).And.OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
        Host.Deliveries.Of(nameof(OrdersConsumer)).Should().HaveCount(5, "order.* takes the five OrderPlaced, not InvoicePaid");
        Host.Deliveries.Of(nameof(EverythingConsumer)).Should().HaveCount(6, "# takes everything");
        await using var scope = Host.Services.CreateAsyncScope();
        var billing = scope.ServiceProvider.GetRequiredService<BillingDbContext>();
        (await billing.Receipts.CountAsync(r => r.Consumer == nameof(OrdersConsumer))).Should().Be(5, "the consumer's effects are committed when the drain returns");
        (await billing.Set<InboxMessage>().CountAsync()).Should().Be(5, "and so are its inbox rows");
    }

    [Test]
    public async Task Draining_until_confirmed_returns_once_every_row_is_processed()
    {
        await Host.SaveAsync(Order.Place(1), Order.Place(2));

        await Drain.DrainAsync(TimeSpan.FromSeconds(20));

        (await Host.OutboxAsync()).Should().HaveCount(2).And.OnlyContain(r => r.Status == OutboxMessageStatus.Processed && r.ProcessedAt != null);
    }

    [Test]
    public async Task A_consumer_that_keeps_failing_makes_the_drain_fail_naming_the_consumer_and_its_error()
    {
        Host.Deliveries.FailuresToInject = int.MaxValue;
        var order = Order.Place(3);
        await Host.SaveAsync(order);
        var failedOnce = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref Host.Deliveries.FailuresToInject) > int.MaxValue - 2 && DateTime.UtcNow < failedOnce)
        {
            await Task.Delay(20);   // both consumers have failed at least once
        }

        var drain = () => Drain.DrainAsync(TimeSpan.FromSeconds(3), OutboxDrainUntil.Consumed);

        var thrown = (await drain.Should().ThrowAsync<OutboxNotDrainedException>()).Which;
        thrown.Message.Should().Contain("did not drain within 3 s");
        thrown.Waiting.Should().ContainSingle().Which.Should()
            .Contain("order.placed").And.Contain($"Order/{order.Id}").And.Contain("published, not yet handled by")
            .And.Contain($"OrdersConsumer (queue orders-{RunId}), which failed: InvalidOperationException: injected consumer failure");
    }

    [Test]
    public async Task A_dead_row_fails_the_drain_at_once_with_its_error()
    {
        await Host.InScopeAsync(async db =>
        {
            db.Set<OutboxMessage>().Add(new OutboxMessage
            {
                MessageId = Guid.CreateVersion7(),
                MessageType = "order.placed",
                Version = 1,
                Exchange = Host.Exchange,
                RoutingKey = "order.placed",
                PartitionKey = "Order/dead",
                Payload = "{}",
                OccurredAt = DateTime.UtcNow,
                NextAttemptAt = DateTime.UtcNow,
                Status = OutboxMessageStatus.Dead,
                Attempts = 10,
                LastError = "refused by the broker",
            });
            return await db.SaveChangesAsync();
        });

        var drain = () => Drain.DrainAsync(TimeSpan.FromSeconds(60), OutboxDrainUntil.Consumed);

        var thrown = (await drain.Should().ThrowAsync<OutboxNotDrainedException>()).Which;
        thrown.Message.Should().Contain("a row is dead", "a dead row will never be confirmed, so the drain says so without waiting out its timeout");
        thrown.Waiting.Should().ContainSingle().Which.Should().Contain("Order/dead").And.Contain("dead, 10 attempt(s), last error: refused by the broker");
    }
}
