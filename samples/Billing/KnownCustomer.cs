namespace Billing;

// Billing's own copy of a customer's name, kept by CustomerReplica from Ordering's customer change events.
public sealed class KnownCustomer
{
    public Guid Id { get; init; }

    public string Name { get; set; } = "";
}
