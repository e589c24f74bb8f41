namespace DomainEvents.Benchmarks.SaveChanges;

/// <summary>The first integration event of a saved order. No in-process handler: the save measures the outbox.</summary>
public sealed record OrderPlaced(Guid OrderId, string Customer, decimal Total) : IIntegrationEvent;

/// <summary>The further integration events of the 10-event case.</summary>
public sealed record OrderLineAdded(Guid OrderId, int Line, string Sku, int Quantity, decimal Price) : IIntegrationEvent;
