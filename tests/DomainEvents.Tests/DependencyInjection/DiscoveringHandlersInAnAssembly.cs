using DomainEvents.Dispatching;
using DomainEvents.Messaging;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.DependencyInjection;

public sealed class DiscoveringHandlersInAnAssembly
{
    public sealed record StockReserved(Guid ProductId) : IIntegrationEvent;

    public sealed record StockReleased(Guid ProductId) : IDomainEvent;

    public sealed class ReserveStockHandler : DomainEventHandler<StockReserved>
    {
        protected override Task Handle(StockReserved domainEvent, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    public sealed class ReleaseStockHandler : INotificationHandler<DomainEventNotification<StockReleased>>
    {
        public Task Handle(DomainEventNotification<StockReleased> notification, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [AfterCommit]
    public sealed class AnnounceReservedStockHandler : DomainEventHandler<StockReserved>
    {
        protected override Task Handle(StockReserved domainEvent, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Test]
    public void Handlers_derived_from_DomainEventHandler_are_registered_as_transient_notification_handlers()
    {
        var services = new ServiceCollection();

        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<DiscoveringHandlersInAnAssembly>());

        services.Should().ContainSingle(d =>
            d.ServiceType == typeof(INotificationHandler<DomainEventNotification<StockReserved>>) && !d.IsKeyedService &&
            d.ImplementationType == typeof(ReserveStockHandler) && d.Lifetime == ServiceLifetime.Transient);
    }

    [Test]
    public void Plain_MediatR_handlers_are_registered_and_resolvable()
    {
        var services = new ServiceCollection();
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<DiscoveringHandlersInAnAssembly>());
        using var provider = services.BuildServiceProvider();

        var handlers = provider.GetServices<INotificationHandler<DomainEventNotification<StockReleased>>>();

        handlers.Should().ContainSingle().Which.Should().BeOfType<ReleaseStockHandler>();
    }

    [Test]
    public void After_commit_handlers_are_registered_only_under_the_after_commit_key()
    {
        var services = new ServiceCollection();

        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<DiscoveringHandlersInAnAssembly>());

        var registrations = services.Where(d => d.IsKeyedService
            ? d.KeyedImplementationType == typeof(AnnounceReservedStockHandler)
            : d.ImplementationType == typeof(AnnounceReservedStockHandler)).ToList();
        registrations.Should().ContainSingle().Which.ServiceKey.Should().Be(MediatRDomainEventDispatcher.AfterCommitKey);
    }

    [Test]
    public void Integration_events_with_handlers_are_registered_in_the_message_type_registry()
    {
        var services = new ServiceCollection();
        services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<DiscoveringHandlersInAnAssembly>());
        using var provider = services.BuildServiceProvider();

        var registry = provider.GetRequiredService<MessageTypeRegistry>();

        registry.TryResolve("stock.reserved", 1, out var descriptor).Should().BeTrue();
        descriptor!.ClrType.Should().Be(typeof(StockReserved));
    }

    [Test]
    public void Scanning_the_same_assembly_twice_registers_each_handler_once()
    {
        var services = new ServiceCollection();

        services.AddDomainEvents(o => o
            .AddHandlersFromAssemblyContaining<DiscoveringHandlersInAnAssembly>()
            .AddHandlersFromAssembly(typeof(DiscoveringHandlersInAnAssembly).Assembly));

        services.Count(d => !d.IsKeyedService && d.ImplementationType == typeof(ReserveStockHandler)).Should().Be(1);
    }

    [Test]
    public void Without_an_assembly_to_scan_no_handler_is_registered()
    {
        var services = new ServiceCollection();

        services.AddDomainEvents();

        services.Should().NotContain(d => d.ServiceType.IsGenericType &&
                                          d.ServiceType.GetGenericTypeDefinition() == typeof(INotificationHandler<>));
        services.Should().Contain(d => d.ServiceType == typeof(IDomainEventDispatcher));
    }
}
