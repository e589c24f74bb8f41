using DomainEvents;

namespace Billing;

// How Billing reads Ordering's customer.created change event (the name comes from the type name by convention). The
// payload of every change event has the entity's name, its key, the operation, the changed properties and the data.
public sealed record CustomerCreated(string Entity, Guid Key, string Operation, string[] Changed, CustomerCreated.Fields Data) : IIntegrationEvent
{
    public sealed record Fields(Guid Id, string Name);
}
