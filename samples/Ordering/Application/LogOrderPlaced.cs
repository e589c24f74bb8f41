using System.Globalization;
using DomainEvents.Dispatching;
using Ordering.Domain;
using Ordering.Sample;

namespace Ordering.Application;

// An in-process handler. It runs inside SaveChangesAsync, before the commit: whatever it changes in the
// unit of work is saved with the order, and if it throws, nothing is committed.
public sealed class LogOrderPlaced : DomainEventHandler<OrderPlaced>
{
    protected override Task Handle(OrderPlaced domainEvent, CancellationToken cancellationToken)
    {
        Flow.Step("2.", "application", $"in-process handler {nameof(LogOrderPlaced)} ran, inside the unit of work (not yet committed)",
            ("order", domainEvent.OrderId),
            ("customer", domainEvent.Customer),
            ("total", domainEvent.Total.ToString("0.00", CultureInfo.InvariantCulture)));
        return Task.CompletedTask;
    }
}
