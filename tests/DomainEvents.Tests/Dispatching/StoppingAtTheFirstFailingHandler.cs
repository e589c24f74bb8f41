using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using MediatR;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.Dispatching;

public sealed class StoppingAtTheFirstFailingHandler
{
    private DispatcherHost _host = null!;

    /// <summary>Carries the exception its failing handler throws, so the test can check it arrives unchanged.</summary>
    public sealed record CustomsHeld(Guid ShipmentId, Exception Failure) : IDomainEvent;

    public sealed class RecordHold(CallLog log) : DomainEventHandler<CustomsHeld>
    {
        protected override Task Handle(CustomsHeld domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(RecordHold), domainEvent);
            return Task.CompletedTask;
        }
    }

    public sealed class RejectHold(CallLog log) : INotificationHandler<DomainEventNotification<CustomsHeld>>
    {
        public Task Handle(DomainEventNotification<CustomsHeld> notification, CancellationToken cancellationToken)
        {
            log.Record(nameof(RejectHold), notification.DomainEvent);
            throw notification.DomainEvent.Failure;
        }
    }

    public sealed class NotifyBroker(CallLog log) : DomainEventHandler<CustomsHeld>
    {
        protected override Task Handle(CustomsHeld domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(NotifyBroker), domainEvent);
            return Task.CompletedTask;
        }
    }

    [SetUp]
    public void StartHost() => _host = new DispatcherHost(scan: false, services =>
    {
        services.AddTransient<INotificationHandler<DomainEventNotification<CustomsHeld>>, RecordHold>();
        services.AddTransient<INotificationHandler<DomainEventNotification<CustomsHeld>>, RejectHold>();
        services.AddTransient<INotificationHandler<DomainEventNotification<CustomsHeld>>, NotifyBroker>();
    });

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task The_exception_propagates_unchanged()
    {
        var failure = new InvalidOperationException("customs system rejected the declaration");

        var act = () => _host.Dispatcher.DispatchAsync(new CustomsHeld(Guid.NewGuid(), failure));

        (await act.Should().ThrowExactlyAsync<InvalidOperationException>()).Which.Should().BeSameAs(failure);
    }

    [Test]
    public async Task Handlers_before_the_failing_one_ran_once_and_handlers_after_it_did_not_run()
    {
        var customsHeld = new CustomsHeld(Guid.NewGuid(), new InvalidOperationException("held"));

        var act = () => _host.Dispatcher.DispatchAsync(customsHeld);

        await act.Should().ThrowAsync<InvalidOperationException>();
        _host.Log.Calls.Should().Equal(new HandlerCall(nameof(RecordHold), customsHeld), new HandlerCall(nameof(RejectHold), customsHeld));
    }

    [Test]
    public void A_handler_that_throws_before_returning_a_task_faults_the_returned_task_instead_of_throwing()
    {
        var failure = new InvalidOperationException("held");

        var task = _host.Dispatcher.DispatchAsync(new CustomsHeld(Guid.NewGuid(), failure));

        task.IsFaulted.Should().BeTrue();
        task.Exception!.InnerExceptions.Should().ContainSingle().Which.Should().BeSameAs(failure);
    }
}
