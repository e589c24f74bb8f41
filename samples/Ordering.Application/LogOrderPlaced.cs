using DomainEvents.Dispatching;
using Microsoft.Extensions.Logging;
using Ordering.Domain;

namespace Ordering.Application;

// An in-process handler. It runs inside SaveChangesAsync, before the commit: whatever it changes in the
// unit of work is saved with the order, and if it throws, nothing is committed.
public sealed partial class LogOrderPlaced(ILogger<LogOrderPlaced> logger) : DomainEventHandler<OrderPlaced>
{
    protected override Task Handle(OrderPlaced domainEvent, CancellationToken cancellationToken)
    {
        Placed(logger, domainEvent.OrderId, domainEvent.Customer, domainEvent.Total);
        return Task.CompletedTask;
    }

    [LoggerMessage(1, LogLevel.Information, "in-process handler LogOrderPlaced ran, inside the unit of work (not yet committed): order {OrderId}, customer {Customer}, total {Total:0.00}")]
    private static partial void Placed(ILogger logger, Guid orderId, string customer, decimal total);
}
