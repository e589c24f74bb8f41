using System.Globalization;
using System.Net.Http.Json;
using Billing;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Ordering.Application;
using Ordering.Domain;
using Ordering.Infrastructure;

namespace Ordering.Sample;

// Places one order and follows its OrderPlaced event to the Billing consumer, reading both services' databases.
internal static class PlaceOrderWalkthrough
{
    public const string Customer = "Ada Lovelace";
    public const decimal Total = 42.50m;

    // One process: the use case is called directly, inside a transaction that lets the sample show the outbox row before the commit.
    public static async Task<bool> RunInProcessAsync(IServiceProvider services, SampleSettings settings, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var placed = await FollowAsync(settings, timeout, "the order to be saved", async () =>
        {
            Flow.Step("api", $"PlaceOrder(\"{Customer}\", {Total.ToString("0.00", CultureInfo.InvariantCulture)}): Order.Place raises {nameof(OrderPlaced)} on the aggregate; it waits there until the save");
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();

            // The explicit transaction is here only so the sample can show the outbox row before the commit.
            // SaveChangesAsync on its own commits the order and its outbox row together just the same.
            await using var transaction = await db.Database.BeginTransactionAsync(deadline.Token);
            var order = await scope.ServiceProvider.GetRequiredService<PlaceOrder>().HandleAsync(Customer, Total, deadline.Token); // the handler runs in here
            var row = await OutboxRowAsync(db, order.Id, deadline.Token);
            ShowRow("row written in the same transaction as the order", row);
            Flow.Step("commit", "the order and its outbox row commit together; the commit wakes the relay");
            await transaction.CommitAsync(deadline.Token);
            return (order.Id, row.MessageId);
        }, deadline.Token);
        return placed && await FollowCustomerChangeAsync(services, settings, timeout);
    }

    // A plain entity with no events: the model's PublishChanges makes its save write a change event to the outbox.
    private static async Task<bool> FollowCustomerChangeAsync(IServiceProvider services, SampleSettings settings, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        Console.WriteLine();
        var customer = new Customer { Name = Customer, Email = "ada@example.org" };
        Flow.Step("api", $"save a Customer (a plain entity, no event class): \"{customer.Name}\"");
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
            db.Customers.Add(customer);
            await db.SaveChangesAsync(deadline.Token);
            var row = await db.Set<OutboxMessage>().AsNoTracking().SingleAsync(m => m.PartitionKey == $"Customer/{customer.Id}", deadline.Token);
            ShowRow("change event committed with the customer", row);
            Flow.Step("outbox", "its payload", ("payload", row.Payload));
        }

        try
        {
            var known = await BillingCopyAsync(settings, customer.Id, Customer, deadline.Token);
            Flow.Step("billing", "committed, read back from Billing's database: its own copy of the customer", ("customer", $"{known.Name} ({known.Id})"));

            // A change to the e-mail address alone publishes nothing (the events carry the id and the name); a rename does.
            const string renamed = "Ada King, Countess of Lovelace";
            await using (var scope = services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
                var saved = await db.Customers.SingleAsync(c => c.Id == customer.Id, deadline.Token);
                saved.Email = "countess@example.org";
                await db.SaveChangesAsync(deadline.Token);
                Flow.Step("api", "change the customer's e-mail address only: no change event (not a selected field)");
                saved.Name = renamed;
                await db.SaveChangesAsync(deadline.Token);
                Flow.Step("api", $"rename the customer: \"{renamed}\", a customer.updated change event");
            }

            known = await BillingCopyAsync(settings, customer.Id, renamed, deadline.Token);
            Flow.Step("billing", "committed, read back from Billing's database: the copy follows", ("customer", $"{known.Name} ({known.Id})"));
            Console.WriteLine();
            Console.WriteLine("Done: Customer saved -> change event in the outbox -> relay -> exchange 'customer' / 'customer.*' -> Billing's replica.");
            return true;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            Console.Error.WriteLine($"FAILED: waited {timeout.TotalSeconds:0} s for Billing to store the customer ({settings.Transport}, {settings.Database}).");
            return false;
        }
    }

    private static Task<KnownCustomer> BillingCopyAsync(SampleSettings settings, Guid customerId, string name, CancellationToken cancellationToken) =>
        PollAsync(async ct =>
        {
            await using var billing = Billing(settings);
            return await billing.Customers.AsNoTracking().SingleOrDefaultAsync(c => c.Id == customerId && c.Name == name, ct);
        }, cancellationToken);

    // Two processes: the order is placed through Ordering.Api's POST /orders.
    public static async Task<bool> RunThroughTheApiAsync(Uri api, SampleSettings settings, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var http = new HttpClient { BaseAddress = api };
        return await FollowAsync(settings, timeout, "Ordering.Api to place the order", async () =>
        {
            Flow.Step("client", $"POST {api}orders {{\"customer\":\"{Customer}\",\"total\":{Total.ToString("0.00", CultureInfo.InvariantCulture)}}}");
            using var response = await http.PostAsJsonAsync("orders", new { customer = Customer, total = Total }, deadline.Token);
            response.EnsureSuccessStatusCode();
            var created = await response.Content.ReadFromJsonAsync<CreatedOrder>(deadline.Token) ?? throw new InvalidOperationException("POST /orders answered without a body.");
            Flow.Step("api", $"{(int)response.StatusCode} {response.StatusCode}, Location {response.Headers.Location}; the order and its outbox row are committed");

            await using var db = Ordering(settings);
            var row = await OutboxRowAsync(db, created.Id, deadline.Token);
            ShowRow("row committed with the order", row);
            return (created.Id, row.MessageId);
        }, deadline.Token);
    }

    private static async Task<bool> FollowAsync(SampleSettings settings, TimeSpan timeout, string firstWait, Func<Task<(Guid OrderId, Guid MessageId)>> place, CancellationToken cancellationToken)
    {
        var waitingFor = firstWait;
        try
        {
            var (orderId, messageId) = await place();

            waitingFor = "Billing to commit the invoice and the inbox row";
            var (invoice, inbox) = await PollAsync(async ct =>
            {
                await using var billing = Billing(settings);
                var invoice = await billing.Invoices.AsNoTracking().SingleOrDefaultAsync(i => i.OrderId == orderId, ct);
                var inbox = await billing.Set<InboxMessage>().AsNoTracking().SingleOrDefaultAsync(m => m.MessageId == messageId, ct);
                return invoice is not null && inbox is not null ? (invoice, inbox) : default;
            }, cancellationToken);
            Flow.Step("billing", "committed, read back from Billing's database: the invoice and the inbox row, so a redelivery would be skipped",
                ("invoice", invoice.Id),
                ("order", invoice.OrderId),
                ("amount", invoice.Amount.ToString("0.00", CultureInfo.InvariantCulture)),
                ("inbox", $"{inbox.MessageId} by {inbox.Consumer}"));

            waitingFor = "the relay to mark the outbox row processed";
            var row = await PollAsync(async ct =>
            {
                await using var db = Ordering(settings);
                return await db.Set<OutboxMessage>().AsNoTracking().SingleOrDefaultAsync(m => m.MessageId == messageId && m.Status == OutboxMessageStatus.Processed, ct);
            }, cancellationToken);
            Flow.Step("relay", $"outbox row {row.Id} is {row.Status} (published and confirmed at {row.ProcessedAt:HH:mm:ss.fff} UTC)");
            Console.WriteLine();
            Console.WriteLine($"Done: Order -> handler -> outbox -> relay -> exchange '{row.Exchange}' / '{row.RoutingKey}' -> Billing.");
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine($"FAILED: waited {timeout.TotalSeconds:0} s for {waitingFor} ({settings.Transport}, {settings.Database}).");
            if (settings.RabbitMq is not null)
            {
                Console.Error.WriteLine($"Is RabbitMQ reachable at {settings.RabbitMq.Host}:{settings.RabbitMq.Port}? The outbox row would stay pending and go out once the broker is reachable.");
            }

            return false;
        }
    }

    private static void ShowRow(string text, OutboxMessage row) =>
        Flow.Step("outbox", text,
            ("message id", row.MessageId),
            ("message type", $"{row.MessageType} (version {row.Version})"),
            ("exchange", row.Exchange),
            ("routing key", row.RoutingKey),
            ("partition key", row.PartitionKey));

    private static Task<OutboxMessage> OutboxRowAsync(OrderingDbContext db, Guid orderId, CancellationToken cancellationToken)
    {
        var partitionKey = $"{nameof(Order)}/{orderId}";
        return db.Set<OutboxMessage>().AsNoTracking().SingleAsync(m => m.PartitionKey == partitionKey, cancellationToken);
    }

    private static OrderingDbContext Ordering(SampleSettings settings)
    {
        var options = new DbContextOptionsBuilder<OrderingDbContext>();
        settings.UseDatabase(options, "ordering");
        return new OrderingDbContext(options.Options);
    }

    private static BillingDbContext Billing(SampleSettings settings)
    {
        var options = new DbContextOptionsBuilder<BillingDbContext>();
        settings.UseDatabase(options, "billing");
        return new BillingDbContext(options.Options);
    }

    private static async Task<T> PollAsync<T>(Func<CancellationToken, Task<T?>> probe, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (await probe(cancellationToken) is { } found && !EqualityComparer<T>.Default.Equals(found, default))
            {
                return found;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    private sealed record CreatedOrder(Guid Id);
}
