using DomainEvents;

namespace Ordering.Domain;

// By convention: message type and routing key "order.placed", version 1, and the exchange "order"
// (the raising aggregate's name in kebab-case).
public sealed record OrderPlaced(Guid OrderId, string Customer, decimal Total) : IIntegrationEvent;
