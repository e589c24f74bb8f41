using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using MediatR;

namespace DomainEvents.Tests.Dispatching;

public sealed class DispatchingToInTransactionHandlers
{
    private DispatcherHost _host = null!;

    public sealed record ParcelDispatched(Guid ParcelId) : IDomainEvent;

    public sealed record ParcelLost(Guid ParcelId) : IIntegrationEvent;

    public sealed record ParcelWeighed(Guid ParcelId, decimal Kilograms) : IDomainEvent;

    public sealed class RecordParcelWithBaseClass(CallLog log) : DomainEventHandler<ParcelDispatched>
    {
        protected override Task Handle(ParcelDispatched domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(RecordParcelWithBaseClass), domainEvent);
            return Task.CompletedTask;
        }
    }

    public sealed class RecordParcelWithMediatRHandler(CallLog log) : INotificationHandler<DomainEventNotification<ParcelDispatched>>
    {
        public Task Handle(DomainEventNotification<ParcelDispatched> notification, CancellationToken cancellationToken)
        {
            log.Record(nameof(RecordParcelWithMediatRHandler), notification.DomainEvent);
            return Task.CompletedTask;
        }
    }

    public sealed class RecordLostParcel(CallLog log) : DomainEventHandler<ParcelLost>
    {
        protected override Task Handle(ParcelLost domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(RecordLostParcel), domainEvent);
            return Task.CompletedTask;
        }
    }

    [SetUp]
    public void StartHost() => _host = new DispatcherHost();

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task An_event_reaches_a_DomainEventHandler_and_a_plain_MediatR_handler_exactly_once_each()
    {
        var parcelDispatched = new ParcelDispatched(Guid.NewGuid());

        await _host.Dispatcher.DispatchAsync(parcelDispatched);

        _host.Log.Calls.Select(c => c.Handler).Should()
            .BeEquivalentTo([nameof(RecordParcelWithBaseClass), nameof(RecordParcelWithMediatRHandler)]);
        _host.Log.Calls.Should().OnlyContain(c => ReferenceEquals(c.DomainEvent, parcelDispatched));
    }

    [Test]
    public async Task Each_dispatch_reaches_the_handlers_again()
    {
        var first = new ParcelDispatched(Guid.NewGuid());
        var second = new ParcelDispatched(Guid.NewGuid());

        await _host.Dispatcher.DispatchAsync(first);
        await _host.Dispatcher.DispatchAsync(second);

        _host.Log.By(nameof(RecordParcelWithBaseClass)).Select(c => c.DomainEvent).Should().Equal(first, second);
        _host.Log.By(nameof(RecordParcelWithMediatRHandler)).Select(c => c.DomainEvent).Should().Equal(first, second);
    }

    [Test]
    public async Task An_integration_event_reaches_its_in_process_handler()
    {
        var parcelLost = new ParcelLost(Guid.NewGuid());

        await _host.Dispatcher.DispatchAsync(parcelLost);

        _host.Log.Calls.Should().ContainSingle()
            .Which.Should().Be(new HandlerCall(nameof(RecordLostParcel), parcelLost));
    }

    [Test]
    public async Task An_event_without_handlers_is_dispatched_to_nobody_without_error()
    {
        await _host.Dispatcher.DispatchAsync(new ParcelWeighed(Guid.NewGuid(), 1.5m));

        _host.Log.Calls.Should().BeEmpty();
    }

    [Test]
    public async Task A_null_event_is_rejected()
    {
        var act = () => _host.Dispatcher.DispatchAsync(null!);

        await act.Should().ThrowAsync<ArgumentNullException>();
    }
}
