using MediatR;

namespace DomainEvents.Benchmarks.Dispatch;

// Two events per side, so that the handler count is fixed by the event type and cannot change with
// assembly scanning: OrderPaid has one handler, OrderShipped has three.

/// <summary>Dispatched through our pipeline; one handler.</summary>
public sealed record OrderPaid(Guid OrderId, decimal Amount) : IDomainEvent;

/// <summary>Dispatched through our pipeline; three handlers.</summary>
public sealed record OrderShipped(Guid OrderId, string Carrier) : IDomainEvent;

/// <summary>The raw MediatR equivalent of <see cref="OrderPaid"/>; one handler.</summary>
public sealed record RawOrderPaid(Guid OrderId, decimal Amount) : INotification;

/// <summary>The raw MediatR equivalent of <see cref="OrderShipped"/>; three handlers.</summary>
public sealed record RawOrderShipped(Guid OrderId, string Carrier) : INotification;
