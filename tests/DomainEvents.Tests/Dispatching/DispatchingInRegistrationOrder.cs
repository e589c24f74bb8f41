using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.Dispatching;

public sealed class DispatchingInRegistrationOrder
{
    public sealed record ShipmentPacked(Guid ShipmentId) : IDomainEvent;

    public sealed class WeighShipment(CallLog log) : DomainEventHandler<ShipmentPacked>
    {
        protected override Task Handle(ShipmentPacked domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(WeighShipment), domainEvent);
            return Task.CompletedTask;
        }
    }

    public sealed class LabelShipment(CallLog log) : INotificationHandler<DomainEventNotification<ShipmentPacked>>
    {
        public async Task Handle(DomainEventNotification<ShipmentPacked> notification, CancellationToken cancellationToken)
        {
            // Completes later than the others: the next handler must still wait for it.
            await Task.Delay(20, cancellationToken);
            log.Record(nameof(LabelShipment), notification.DomainEvent);
        }
    }

    public sealed class BookCourier(CallLog log) : DomainEventHandler<ShipmentPacked>
    {
        protected override Task Handle(ShipmentPacked domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(BookCourier), domainEvent);
            return Task.CompletedTask;
        }
    }

    [AfterCommit]
    public sealed class EmailTrackingLink(CallLog log) : DomainEventHandler<ShipmentPacked>
    {
        protected override Task Handle(ShipmentPacked domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(EmailTrackingLink), domainEvent);
            return Task.CompletedTask;
        }
    }

    [AfterCommit]
    public sealed class RefreshTrackingPage(CallLog log) : INotificationHandler<DomainEventNotification<ShipmentPacked>>
    {
        public async Task Handle(DomainEventNotification<ShipmentPacked> notification, CancellationToken cancellationToken)
        {
            await Task.Yield();
            log.Record(nameof(RefreshTrackingPage), notification.DomainEvent);
        }
    }

    private static readonly Dictionary<string, Type> Handlers = new()
    {
        [nameof(WeighShipment)] = typeof(WeighShipment),
        [nameof(LabelShipment)] = typeof(LabelShipment),
        [nameof(BookCourier)] = typeof(BookCourier),
    };

    [TestCase(nameof(WeighShipment), nameof(LabelShipment), nameof(BookCourier))]
    [TestCase(nameof(BookCourier), nameof(WeighShipment), nameof(LabelShipment))]
    [TestCase(nameof(LabelShipment), nameof(BookCourier), nameof(WeighShipment))]
    public async Task Handlers_run_once_each_in_the_order_they_were_registered(string first, string second, string third)
    {
        using var host = new DispatcherHost(scan: false, services =>
        {
            foreach (var name in new[] { first, second, third })
            {
                services.AddTransient(typeof(INotificationHandler<DomainEventNotification<ShipmentPacked>>), Handlers[name]);
            }
        });
        var shipmentPacked = new ShipmentPacked(Guid.NewGuid());

        await host.Dispatcher.DispatchAsync(shipmentPacked);

        host.Log.Calls.Should().Equal(
            new HandlerCall(first, shipmentPacked),
            new HandlerCall(second, shipmentPacked),
            new HandlerCall(third, shipmentPacked));
    }

    [Test]
    public async Task Handlers_found_by_scanning_run_once_each_in_the_order_the_scan_registered_them()
    {
        using var host = new DispatcherHost();
        var shipmentPacked = new ShipmentPacked(Guid.NewGuid());

        await host.Dispatcher.DispatchAsync(shipmentPacked);

        host.Log.Calls.Should().Equal(RegisteredOrder(host, afterCommit: false).Select(name => new HandlerCall(name, shipmentPacked)));
        host.Log.Calls.Should().HaveCount(3);
    }

    [Test]
    public async Task After_commit_handlers_run_once_each_in_the_order_the_scan_registered_them()
    {
        using var host = new DispatcherHost();
        var shipmentPacked = new ShipmentPacked(Guid.NewGuid());

        await host.Dispatcher.DispatchAfterCommitAsync(shipmentPacked);

        host.Log.Calls.Should().Equal(RegisteredOrder(host, afterCommit: true).Select(name => new HandlerCall(name, shipmentPacked)));
        host.Log.Calls.Should().HaveCount(2);
    }

    private static IEnumerable<string> RegisteredOrder(DispatcherHost host, bool afterCommit) =>
        host.Services
            .Where(d => d.ServiceType == typeof(INotificationHandler<DomainEventNotification<ShipmentPacked>>) && d.IsKeyedService == afterCommit)
            .Select(d => (afterCommit ? d.KeyedImplementationType : d.ImplementationType)!.Name);
}
