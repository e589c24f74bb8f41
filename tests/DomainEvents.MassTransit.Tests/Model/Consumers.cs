using System.Collections.Concurrent;
using DomainEvents.MassTransit.Consumers;
using MassTransit;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests.Model;

public sealed record Delivery(string Consumer, object Message, IntegrationEventEnvelope Envelope, string? TransportRoutingKey);

/// <summary>Everything consumers received, in arrival order.</summary>
public sealed class Deliveries
{
    private readonly ConcurrentQueue<Delivery> _all = new();
    private readonly SemaphoreSlim _arrived = new(0);

    public IReadOnlyList<Delivery> All => [.. _all];

    public int FailuresToInject;

    public void Add(Delivery delivery)
    {
        _all.Enqueue(delivery);
        _arrived.Release();
    }

    public IReadOnlyList<Delivery> Of(string consumer) => [.. _all.Where(d => d.Consumer == consumer)];

    /// <summary>Waits until <paramref name="condition"/> holds, or fails the test after the timeout.</summary>
    public async Task WaitUntilAsync(Func<Deliveries, bool> condition, TimeSpan? timeout = null, string? because = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (!condition(this))
        {
            try
            {
                await _arrived.WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"Timed out waiting for deliveries{(because is null ? "" : ": " + because)}; got {_all.Count}.");
            }
        }
    }
}

/// <summary>Records each delivery, and with the inbox on stores a receipt in the billing database.</summary>
public abstract class RecordingConsumer(Deliveries deliveries, IServiceProvider services) : IConsumer<OrderPlaced>, IConsumer<InvoicePaid>, IConsumer<InvoiceRefunded>
{
    public async Task Consume(ConsumeContext<OrderPlaced> context)
    {
        if (Interlocked.Decrement(ref deliveries.FailuresToInject) >= 0)
        {
            throw new InvalidOperationException("injected consumer failure");
        }

        var billing = services.GetService(typeof(BillingDbContext)) as BillingDbContext;
        if (billing is not null)
        {
            billing.Receipts.Add(new Receipt { Consumer = GetType().Name, MessageId = context.MessageId!.Value, OrderId = context.Message.OrderId, Sequence = context.Message.Sequence });
            await billing.SaveChangesAsync();
        }

        deliveries.Add(new Delivery(GetType().Name, context.Message, context.GetIntegrationEventEnvelope(), RoutingKeyOf(context)));
    }

    public Task Consume(ConsumeContext<InvoicePaid> context)
    {
        deliveries.Add(new Delivery(GetType().Name, context.Message, context.GetIntegrationEventEnvelope(), RoutingKeyOf(context)));
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<InvoiceRefunded> context)
    {
        deliveries.Add(new Delivery(GetType().Name, context.Message, context.GetIntegrationEventEnvelope(), RoutingKeyOf(context)));
        return Task.CompletedTask;
    }

    private static string? RoutingKeyOf(ConsumeContext context) =>
        context.ReceiveContext.TransportHeaders.TryGetHeader("RoutingKey", out var key) ? key?.ToString() : context.RoutingKey();
}

public sealed class OrdersConsumer(Deliveries deliveries, IServiceProvider services) : RecordingConsumer(deliveries, services);

public sealed class EverythingConsumer(Deliveries deliveries, IServiceProvider services) : RecordingConsumer(deliveries, services);

/// <summary>Stores a receipt and increments a tally for each order: both effects must happen once per message.</summary>
public sealed class TallyingConsumer(Deliveries deliveries, BillingDbContext billing) : IConsumer<OrderPlaced>
{
    public async Task Consume(ConsumeContext<OrderPlaced> context)
    {
        billing.Receipts.Add(new Receipt { Consumer = nameof(TallyingConsumer), MessageId = context.MessageId!.Value, OrderId = context.Message.OrderId, Sequence = context.Message.Sequence });
        var tally = await billing.Tallies.SingleAsync(t => t.Name == "orders");
        tally.Count++;
        await billing.SaveChangesAsync();
        deliveries.Add(new Delivery(nameof(TallyingConsumer), context.Message, context.GetIntegrationEventEnvelope(), null));
    }
}

/// <summary>
/// Reacts to an order in the shop's own database, behind the inbox: stores a shipment and publishes the next event
/// through the shop's outbox, all in the inbox's transaction.
/// </summary>
public sealed class ShippingConsumer(ShopDbContext shop, EntityFrameworkCore.Outbox.IOutboxPublisher<ShopDbContext> outbox) : IConsumer<OrderPlaced>
{
    public Task Consume(ConsumeContext<OrderPlaced> context)
    {
        shop.Shipments.Add(new Shipment { OrderId = context.Message.OrderId });
        outbox.Publish(new ShipmentRequested(context.Message.OrderId, context.Message.Sequence), partitionKey: $"Order/{context.Message.OrderId}", exchange: context.GetIntegrationEventEnvelope().Exchange);
        return Task.CompletedTask;
    }
}

/// <summary>Records each <c>shipment.requested</c>.</summary>
public sealed class ShipmentsConsumer(Deliveries deliveries) : IConsumer<ShipmentRequested>
{
    public Task Consume(ConsumeContext<ShipmentRequested> context)
    {
        deliveries.Add(new Delivery(nameof(ShipmentsConsumer), context.Message, context.GetIntegrationEventEnvelope(), null));
        return Task.CompletedTask;
    }
}

/// <summary>Records customers' change events, received typed.</summary>
public sealed class CustomersConsumer(Deliveries deliveries) : IConsumer<CustomerCreated>, IConsumer<CustomerUpdated>
{
    public Task Consume(ConsumeContext<CustomerCreated> context)
    {
        deliveries.Add(new Delivery(nameof(CustomersConsumer), context.Message, context.GetIntegrationEventEnvelope(), null));
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<CustomerUpdated> context)
    {
        deliveries.Add(new Delivery(nameof(CustomersConsumer), context.Message, context.GetIntegrationEventEnvelope(), null));
        return Task.CompletedTask;
    }
}

/// <summary>A replica whose copies lack their required name: every save fails on the database's NOT NULL.</summary>
public sealed class NamelessCustomerReplica(BillingDbContext billing) : ReplicaConsumer<BillingDbContext, CustomerCopy, CustomerChange>(billing)
{
    protected override object[] KeyOf(CustomerChange message) => [message.Key];

    protected override CustomerCopy Create(CustomerChange message) => new() { Id = message.Key, Name = null! };

    protected override void Apply(CustomerCopy entity, CustomerChange message) => entity.Name = null!;
}

/// <summary>Keeps Billing's copy of the shop's customers from their change events.</summary>
public sealed class CustomerReplica(BillingDbContext billing) : ReplicaConsumer<BillingDbContext, CustomerCopy, CustomerChange>(billing)
{
    protected override object[] KeyOf(CustomerChange message) => [message.Key];

    protected override CustomerCopy Create(CustomerChange message) => new() { Id = message.Key, Name = message.Data!.Name };

    protected override void Apply(CustomerCopy entity, CustomerChange message) => entity.Name = message.Data!.Name;
}
