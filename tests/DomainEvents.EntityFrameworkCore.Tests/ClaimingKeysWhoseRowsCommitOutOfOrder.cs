using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// Outbox ids are drawn when a row is inserted, not when it commits, so on PostgreSQL a lower id of a key can become
/// visible after a higher one was claimed. The key must stay with the claim that is sending it.
/// </summary>
[Category("Integration")]
public sealed class ClaimingKeysWhoseRowsCommitOutOfOrder
{
    [Test]
    public async Task A_lower_id_that_commits_while_its_key_is_being_sent_waits_and_nothing_is_sent_twice()
    {
        await using var host = await TestHost.StartAsync(DatabaseProvider.PostgreSql);
        var transport = new HeldTransport();
        var options = new OutboxRelayOptions { BatchSize = 100 };
        using var relayA = NewRelay(host, transport, options);
        using var relayB = NewRelay(host, transport, options);

        var order = Order.Place("c1", 1m);
        await host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });
        (await relayA.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);

        // Writer 1 draws the next id of the key and keeps its transaction open.
        await using var scope1 = host.Services.CreateAsyncScope();
        var db1 = scope1.ServiceProvider.GetRequiredService<OrderingDbContext>();
        await using var transaction1 = await db1.Database.BeginTransactionAsync();
        var order1 = await db1.Orders.SingleAsync(o => o.Id == order.Id);
        order1.RaiseEvent(new OrderPlaced(order.Id, 1));
        await db1.SaveChangesAsync();

        // Writer 2 commits two later ids of the same key, and relay A starts sending them.
        await host.InScopeAsync(async db =>
        {
            var order2 = await db.Orders.SingleAsync(o => o.Id == order.Id);
            order2.RaiseEvent(new OrderPlaced(order.Id, 2));
            order2.RaiseEvent(new OrderPlaced(order.Id, 3));
            await db.SaveChangesAsync();
        });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        transport.Hold = gate.Task;
        var sending = relayA.RunOnceAsync(CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (transport.Held.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        transport.Held.Should().ContainSingle("relay A sends the first of the two committed rows");

        // The lower id commits now; relay B claims while relay A is still sending the key.
        await transaction1.CommitAsync();
        (await relayB.RunOnceAsync(CancellationToken.None)).Claimed.Should().Be(0, "the key's rows are leased by relay A's claim");

        transport.Hold = null;
        gate.SetResult();
        (await sending).Processed.Should().Be(2);
        (await relayB.RunOnceAsync(CancellationToken.None)).Processed.Should().Be(1);

        var rows = await host.OutboxAsync();
        rows.Should().OnlyContain(r => r.Status == OutboxMessageStatus.Processed);
        transport.Sent.GroupBy(e => e.MessageId).Should().OnlyContain(g => g.Count() == 1, "no message is sent twice");
        transport.Sent.Skip(1).Select(e => e.Id).Should().Equal(rows.Skip(2).Select(r => r.Id).Append(rows[1].Id),
            "the claimed rows go out in id order, then the row that committed late");
    }

    private static OutboxRelay<OrderingDbContext> NewRelay(TestHost host, IOutboxTransport transport, OutboxRelayOptions options) =>
        new(host.Services.GetRequiredService<IServiceScopeFactory>(), new OutboxSignal(), transport, options, TimeProvider.System, NullLogger<OutboxRelay<OrderingDbContext>>.Instance);

    private sealed class HeldTransport : IOutboxTransport
    {
        public ConcurrentQueue<OutboxEnvelope> Sent { get; } = new();

        public ConcurrentQueue<OutboxEnvelope> Held { get; } = new();

        public Task? Hold { get; set; }

        public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
        {
            if (Hold is { } hold)
            {
                Held.Enqueue(envelope);
                await hold;
            }

            Sent.Enqueue(envelope);
        }
    }
}
