using DomainEvents.Dispatching;
using MediatR;

namespace DomainEvents.Benchmarks.Dispatch;

// Our side: handlers written with our base class, as a user writes them. Found by AddHandlersFromAssemblyContaining.

public sealed class RecordPayment : DomainEventHandler<OrderPaid>
{
    protected override Task Handle(OrderPaid domainEvent, CancellationToken cancellationToken) => HandlerCalls.Record();
}

public sealed class ReserveCarrier : DomainEventHandler<OrderShipped>
{
    protected override Task Handle(OrderShipped domainEvent, CancellationToken cancellationToken) => HandlerCalls.Record();
}

public sealed class UpdateTracking : DomainEventHandler<OrderShipped>
{
    protected override Task Handle(OrderShipped domainEvent, CancellationToken cancellationToken) => HandlerCalls.Record();
}

public sealed class EmailCustomer : DomainEventHandler<OrderShipped>
{
    protected override Task Handle(OrderShipped domainEvent, CancellationToken cancellationToken) => HandlerCalls.Record();
}

// Raw MediatR side: plain notification handlers with the same bodies.

public sealed class RawRecordPayment : INotificationHandler<RawOrderPaid>
{
    public Task Handle(RawOrderPaid notification, CancellationToken cancellationToken) => HandlerCalls.Record();
}

public sealed class RawReserveCarrier : INotificationHandler<RawOrderShipped>
{
    public Task Handle(RawOrderShipped notification, CancellationToken cancellationToken) => HandlerCalls.Record();
}

public sealed class RawUpdateTracking : INotificationHandler<RawOrderShipped>
{
    public Task Handle(RawOrderShipped notification, CancellationToken cancellationToken) => HandlerCalls.Record();
}

public sealed class RawEmailCustomer : INotificationHandler<RawOrderShipped>
{
    public Task Handle(RawOrderShipped notification, CancellationToken cancellationToken) => HandlerCalls.Record();
}
