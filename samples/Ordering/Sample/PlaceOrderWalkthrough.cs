using System.Globalization;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Ordering.Billing;
using Ordering.Domain;
using Ordering.Infrastructure;

namespace Ordering.Sample;

// Places one order and follows its OrderPlaced event to the Billing consumer.
public static class PlaceOrderWalkthrough
{
    public static async Task<bool> RunAsync(IServiceProvider services, SampleOptions options, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var waitingFor = "the order to be saved";
        try
        {
            var order = Order.Place("Ada Lovelace", 42.50m);
            Flow.Step("1.", "domain", $"Order {order.Id} raised {nameof(OrderPlaced)}; it waits on the aggregate until the save",
                ("events", order.DomainEvents.Count));

            await SaveAsync(services, order, deadline.Token);

            waitingFor = "the Billing consumer to receive OrderPlaced";
            var messageId = await services.GetRequiredService<ConsumerProgress>().WaitAsync(order.Id, deadline.Token);

            waitingFor = "the invoice and the inbox row to be committed";
            var inbox = await PollAsync(services, (BillingDbContext billing, CancellationToken ct) =>
                billing.Set<InboxMessage>().AsNoTracking().SingleOrDefaultAsync(m => m.MessageId == messageId, ct), deadline.Token);
            var invoice = await PollAsync(services, (BillingDbContext billing, CancellationToken ct) =>
                billing.Invoices.AsNoTracking().SingleOrDefaultAsync(i => i.OrderId == order.Id, ct), deadline.Token);
            Flow.Step("6.", "billing", "invoice stored; the inbox row committed with it, so a redelivery would be skipped",
                ("invoice", invoice.Id),
                ("order", invoice.OrderId),
                ("amount", invoice.Amount.ToString("0.00", CultureInfo.InvariantCulture)),
                ("inbox", $"{inbox.MessageId} by {inbox.Consumer}"));

            waitingFor = "the relay to mark the outbox row processed";
            var row = await PollAsync(services, (OrderingDbContext db, CancellationToken ct) =>
                db.Set<OutboxMessage>().AsNoTracking().SingleOrDefaultAsync(m => m.MessageId == messageId && m.Status == OutboxMessageStatus.Processed, ct), deadline.Token);
            Flow.Step("7.", "relay", $"outbox row {row.Id} is {row.Status} (published and confirmed at {row.ProcessedAt:HH:mm:ss.fff} UTC)");
            Console.WriteLine();
            Console.WriteLine($"Done: Order -> handler -> outbox -> relay -> exchange '{row.Exchange}' / '{row.RoutingKey}' -> Billing.");
            return true;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            Console.Error.WriteLine($"FAILED: waited {timeout.TotalSeconds:0} s for {waitingFor} ({options.Transport}, {options.Database}).");
            if (options.RabbitMq is not null)
            {
                Console.Error.WriteLine($"Is RabbitMQ reachable at {options.RabbitMq.Host}:{options.RabbitMq.Port}? The outbox row would stay pending and go out once the broker is reachable.");
            }

            return false;
        }
    }

    private static async Task SaveAsync(IServiceProvider services, Order order, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();

        // The explicit transaction is here only so the sample can show the outbox row before the commit.
        // SaveChangesAsync on its own commits the order and its outbox row together just the same.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.Orders.Add(order);
        await db.SaveChangesAsync(cancellationToken); // step 2 is printed by the handler, inside this call

        var partitionKey = $"{nameof(Order)}/{order.Id}";
        var row = await db.Set<OutboxMessage>().AsNoTracking().SingleAsync(m => m.PartitionKey == partitionKey, cancellationToken);
        Flow.Step("3.", "outbox", "row written in the same transaction as the order",
            ("message id", row.MessageId),
            ("message type", $"{row.MessageType} (version {row.Version})"),
            ("exchange", row.Exchange),
            ("routing key", row.RoutingKey),
            ("partition key", row.PartitionKey));

        Flow.Step("", "commit", "the order and its outbox row commit together; the commit wakes the relay");
        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task<T> PollAsync<TContext, T>(IServiceProvider services, Func<TContext, CancellationToken, Task<T?>> probe, CancellationToken cancellationToken)
        where TContext : DbContext
        where T : class
    {
        while (true)
        {
            await using (var scope = services.CreateAsyncScope())
            {
                if (await probe(scope.ServiceProvider.GetRequiredService<TContext>(), cancellationToken) is { } found)
                {
                    return found;
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }
}
