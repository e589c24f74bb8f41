using Ordering.Domain;

namespace Ordering.Application;

/// <summary>The orders and the unit of work, as the use cases see them. Ordering.Infrastructure implements it with EF Core.</summary>
public interface IOrders
{
    void Add(Order order);

    /// <summary>Saves the unit of work: domain event handlers run inside it, integration events go to the outbox in the same commit.</summary>
    Task SaveChangesAsync(CancellationToken cancellationToken);
}
