namespace DomainEvents.Benchmarks.SaveChanges;

/// <summary>A new aggregate with a client-generated key, as the outbox asks for.</summary>
public sealed class Order : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public string Customer { get; private set; } = "";

    public decimal Total { get; private set; }

    /// <summary>A new order that has raised <paramref name="integrationEvents"/> integration events (0 = none).</summary>
    public static Order Create(int integrationEvents)
    {
        var order = new Order { Customer = "customer-42", Total = 129.90m };
        if (integrationEvents > 0)
        {
            order.Raise(new OrderPlaced(order.Id, order.Customer, order.Total));
        }

        for (var line = 1; line < integrationEvents; line++)
        {
            order.Raise(new OrderLineAdded(order.Id, line, "SKU-1001", 1, 12.99m));
        }

        return order;
    }
}
