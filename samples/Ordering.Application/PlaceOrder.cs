using Ordering.Domain;

namespace Ordering.Application;

/// <summary>The use case behind POST /orders.</summary>
public sealed class PlaceOrder(IOrders orders)
{
    /// <summary>Places an order and saves it with its events. Invalid input throws <see cref="ArgumentException"/> before anything is saved.</summary>
    public async Task<Order> HandleAsync(string customer, decimal total, CancellationToken cancellationToken)
    {
        var order = Order.Place(customer, total);
        orders.Add(order);
        await orders.SaveChangesAsync(cancellationToken);
        return order;
    }
}
