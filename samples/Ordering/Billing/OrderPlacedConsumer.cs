using DomainEvents.MassTransit;
using MassTransit;
using Ordering.Domain;
using Ordering.Sample;

namespace Ordering.Billing;

// A MassTransit consumer in the Billing service. Program.cs binds its queue to the "order" exchange with
// "order.*" and puts it behind an inbox: the invoice and the inbox row commit together, so a redelivered
// message is skipped. (A separate Billing service would keep its own copy of the OrderPlaced record: the
// message type name "order.placed", not the CLR type, is what is matched.)
public sealed class OrderPlacedConsumer(BillingDbContext db, ConsumerProgress progress) : IConsumer<OrderPlaced>
{
    public async Task Consume(ConsumeContext<OrderPlaced> context)
    {
        var envelope = context.GetIntegrationEventEnvelope();
        Flow.Step("5.", "billing", $"{nameof(OrderPlacedConsumer)} received {envelope.MessageType} (version {envelope.Version})",
            ("message id", envelope.MessageId),
            ("exchange", envelope.Exchange),
            ("routing key", envelope.RoutingKey),
            ("partition key", envelope.PartitionKey));

        var order = context.Message;
        db.Invoices.Add(new Invoice { OrderId = order.OrderId, Customer = order.Customer, Amount = order.Total });
        await db.SaveChangesAsync(context.CancellationToken);
        progress.Received(order.OrderId, envelope.MessageId);
    }
}
