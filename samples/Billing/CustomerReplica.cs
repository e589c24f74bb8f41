using DomainEvents.MassTransit.Consumers;
using Microsoft.Extensions.Logging;

namespace Billing;

// Keeps Billing's copy of Ordering's customers from their change events: created, renamed, deleted. Ordering wrote no
// event class for them (its model says PublishChanges for Customer). The base class finds the copy by key and skips a
// message older than what it applied for that key, so duplicates and old messages sent again change nothing.
public sealed partial class CustomerReplica(BillingDbContext db, ILogger<CustomerReplica> logger)
    : ReplicaConsumer<BillingDbContext, KnownCustomer, CustomerChanged>(db)
{
    protected override object[] KeyOf(CustomerChanged message) => [message.Key];

    protected override KnownCustomer Create(CustomerChanged message)
    {
        Applied(logger, message.Operation, message.Data!.Name, message.Key);
        return new KnownCustomer { Id = message.Key, Name = message.Data.Name };
    }

    protected override void Apply(KnownCustomer customer, CustomerChanged message)
    {
        Applied(logger, message.Operation, message.Data!.Name, message.Key);
        customer.Name = message.Data.Name;
    }

    [LoggerMessage(1, LogLevel.Information, "CustomerReplica applied customer.{Operation}: Billing's copy of customer {CustomerId} is now {Name}")]
    private static partial void Applied(ILogger logger, string operation, string name, Guid customerId);
}
