using Ordering.Application;
using Ordering.Domain;

namespace Ordering.Infrastructure;

internal sealed class EfOrders(OrderingDbContext db) : IOrders
{
    public void Add(Order order) => db.Orders.Add(order);

    public Task SaveChangesAsync(CancellationToken cancellationToken) => db.SaveChangesAsync(cancellationToken);
}
