using DomainEvents;

namespace Ordering.Domain;

public sealed class Order : AggregateRoot
{
    private Order(Guid id, string customer, decimal total)
    {
        Id = id;
        Customer = customer;
        Total = total;
    }

    // A client-generated, time-ordered key: the outbox needs it before the insert for the partition key.
    public Guid Id { get; private set; }

    public string Customer { get; private set; }

    public decimal Total { get; private set; }

    public static Order Place(string customer, decimal total)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(customer);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(total);
        var order = new Order(Guid.CreateVersion7(), customer, total);
        order.Raise(new OrderPlaced(order.Id, customer, total));
        return order;
    }
}
