using DomainEvents.MassTransit;
using MassTransit;
using Microsoft.Extensions.Logging;
using Ordering.Domain;

namespace Billing;

// A MassTransit consumer in the Billing service. BillingServices binds its queue to the "order" exchange with
// "order.*" and puts it behind an inbox: the invoice and the inbox row commit together, so a redelivered
// message is skipped.
public sealed partial class OrderPlacedConsumer(BillingDbContext db, ILogger<OrderPlacedConsumer> logger) : IConsumer<OrderPlaced>
{
    public async Task Consume(ConsumeContext<OrderPlaced> context)
    {
        var envelope = context.GetIntegrationEventEnvelope();
        Received(logger, envelope.MessageType, envelope.Version, envelope.MessageId, envelope.Exchange, envelope.RoutingKey, envelope.PartitionKey);

        var order = context.Message;
        var invoice = new Invoice { OrderId = order.OrderId, Customer = order.Customer, Amount = order.Total };
        db.Invoices.Add(invoice);
        await db.SaveChangesAsync(context.CancellationToken);
        Invoiced(logger, invoice.Id, order.OrderId, invoice.Amount);
    }

    [LoggerMessage(1, LogLevel.Information, "OrderPlacedConsumer received {MessageType} (version {Version}): message id {MessageId}, exchange {Exchange}, routing key {RoutingKey}, partition key {PartitionKey}")]
    private static partial void Received(ILogger logger, string messageType, int version, Guid messageId, string? exchange, string? routingKey, string? partitionKey);

    [LoggerMessage(2, LogLevel.Information, "invoice {InvoiceId} for order {OrderId} ({Amount:0.00}) saved in the inbox's transaction; it commits with the inbox row when the consumer returns")]
    private static partial void Invoiced(ILogger logger, Guid invoiceId, Guid orderId, decimal amount);
}
