namespace Ordering.Domain;

// A plain entity: it raises no events. OrderingDbContext publishes its changes (customer.created, customer.updated,
// customer.deleted) with PublishChanges, so other services can follow customers without an event class here.
public sealed class Customer
{
    public Guid Id { get; init; } = Guid.CreateVersion7();

    public string Name { get; set; } = "";

    public string Email { get; set; } = "";
}
