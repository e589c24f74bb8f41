using DomainEvents;

namespace Billing;

// How Billing reads Ordering's customer change events: one record for customer.created, customer.updated and
// customer.deleted (BillingServices accepts all three as this type). The payload of every change event has the
// entity's name, its key, the operation, the changed selected fields and the data.
public sealed record CustomerChanged(string Entity, Guid Key, string Operation, string[] Changed, CustomerChanged.Fields? Data) : IIntegrationEvent
{
    public sealed record Fields(Guid Id, string Name);
}
