using DomainEvents.MassTransit;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace Billing;

// Keeps Billing's copy of a customer from Ordering's change events. Ordering wrote no event class for them: its model
// says PublishChanges for the Customer entity.
public sealed partial class CustomerCreatedConsumer(BillingDbContext db, ILogger<CustomerCreatedConsumer> logger) : IConsumer<CustomerCreated>
{
    public async Task Consume(ConsumeContext<CustomerCreated> context)
    {
        var created = context.Message;
        db.Customers.Add(new KnownCustomer { Id = created.Key, Name = created.Data.Name });
        await db.SaveChangesAsync(context.CancellationToken);
        Received(logger, context.GetIntegrationEventEnvelope().MessageType, created.Data.Name, created.Key);
    }

    [LoggerMessage(1, LogLevel.Information, "CustomerCreatedConsumer received {MessageType}: Billing now knows customer {Name} ({CustomerId})")]
    private static partial void Received(ILogger logger, string messageType, string name, Guid customerId);
}
