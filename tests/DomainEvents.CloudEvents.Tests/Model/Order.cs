namespace DomainEvents.CloudEvents.Tests.Model;

[IntegrationEvent("order.placed", Version = 2, Exchange = "orders")]
public sealed record OrderPlaced(Guid OrderId, string Customer, decimal Total) : IIntegrationEvent;

public sealed class Order : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public string Customer { get; private set; } = "";

    public decimal Total { get; private set; }

    public static Order Place(string customer, decimal total)
    {
        var order = new Order { Customer = customer, Total = total };
        order.Raise(new OrderPlaced(order.Id, customer, total));
        return order;
    }
}
