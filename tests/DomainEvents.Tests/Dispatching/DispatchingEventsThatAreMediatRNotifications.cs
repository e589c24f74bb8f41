using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using MediatR;

namespace DomainEvents.Tests.Dispatching;

public sealed class DispatchingEventsThatAreMediatRNotifications
{
    private DispatcherHost _host = null!;

    public sealed record TemperatureRecorded(Guid SensorId, double Celsius) : IDomainEvent, INotification;

    public sealed record HumidityRecorded(Guid SensorId, double Percent) : IDomainEvent, INotification;

    public sealed class HandleAsNotification(CallLog log) : INotificationHandler<TemperatureRecorded>
    {
        public Task Handle(TemperatureRecorded notification, CancellationToken cancellationToken)
        {
            log.Record(nameof(HandleAsNotification), notification);
            return Task.CompletedTask;
        }
    }

    public sealed class HandleAsDomainEvent(CallLog log) : DomainEventHandler<TemperatureRecorded>
    {
        protected override Task Handle(TemperatureRecorded domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(HandleAsDomainEvent), domainEvent);
            return Task.CompletedTask;
        }
    }

    [SetUp]
    public void StartHost() => _host = new DispatcherHost();

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task The_event_reaches_an_INotificationHandler_of_the_event_type_exactly_once()
    {
        var temperatureRecorded = new TemperatureRecorded(Guid.NewGuid(), 21.5);

        await _host.Dispatcher.DispatchAsync(temperatureRecorded);

        _host.Log.By(nameof(HandleAsNotification)).Should().ContainSingle()
            .Which.DomainEvent.Should().BeSameAs(temperatureRecorded);
    }

    [Test]
    public async Task The_event_still_reaches_DomainEventHandlers_exactly_once()
    {
        var temperatureRecorded = new TemperatureRecorded(Guid.NewGuid(), 21.5);

        await _host.Dispatcher.DispatchAsync(temperatureRecorded);

        _host.Log.By(nameof(HandleAsDomainEvent)).Should().ContainSingle()
            .Which.DomainEvent.Should().BeSameAs(temperatureRecorded);
        _host.Log.Calls.Should().HaveCount(2);
    }

    [Test]
    public async Task An_event_with_no_handler_of_either_kind_is_dispatched_to_nobody_without_error()
    {
        await _host.Dispatcher.DispatchAsync(new HumidityRecorded(Guid.NewGuid(), 40));
        await _host.Dispatcher.DispatchAfterCommitAsync(new HumidityRecorded(Guid.NewGuid(), 40));

        _host.Log.Calls.Should().BeEmpty();
    }
}
