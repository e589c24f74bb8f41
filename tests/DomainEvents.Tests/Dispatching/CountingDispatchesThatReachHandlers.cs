using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;

namespace DomainEvents.Tests.Dispatching;

/// <summary>
/// The unit of work skips its second look at the change tracker when a round ran no handler. That is only safe if
/// the count never misses a dispatch that ran one.
/// </summary>
public sealed class CountingDispatchesThatReachHandlers
{
    private DispatcherHost _host = null!;

    private IHandlerRunCounter Counter => (IHandlerRunCounter)_host.Dispatcher;

    [SetUp]
    public void StartHost() => _host = new DispatcherHost();

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task A_dispatch_that_resolves_a_handler_is_counted()
    {
        await _host.Dispatcher.DispatchAsync(new DispatchingToInTransactionHandlers.ParcelDispatched(Guid.NewGuid()));

        Counter.DispatchesWithHandlers.Should().Be(1);
    }

    [Test]
    public async Task A_dispatch_of_an_event_without_handlers_is_not_counted()
    {
        await _host.Dispatcher.DispatchAsync(new DispatchingToInTransactionHandlers.ParcelWeighed(Guid.NewGuid(), 3m));

        Counter.DispatchesWithHandlers.Should().Be(0);
    }

    [Test]
    public async Task A_dispatch_whose_only_handlers_run_after_commit_is_not_counted()
    {
        await _host.Dispatcher.DispatchAsync(new AfterCommitOnly(Guid.NewGuid()));

        Counter.DispatchesWithHandlers.Should().Be(0);
    }

    [Test]
    public async Task A_dispatch_of_an_event_that_is_a_MediatR_notification_is_always_counted()
    {
        await _host.Dispatcher.DispatchAsync(new DispatchingEventsThatAreMediatRNotifications.HumidityRecorded(Guid.NewGuid(), 50));

        Counter.DispatchesWithHandlers.Should().Be(1);
    }

    [Test]
    public async Task A_dispatch_whose_handler_fails_is_counted()
    {
        var act = () => _host.Dispatcher.DispatchAsync(new PropagatingHandlerFailures.PaymentDeclined(Guid.NewGuid(), new InvalidOperationException("declined")));

        await act.Should().ThrowAsync<InvalidOperationException>();
        Counter.DispatchesWithHandlers.Should().Be(1);
    }

    public sealed record AfterCommitOnly(Guid Id) : IDomainEvent;

    [AfterCommit]
    public sealed class HandleAfterCommitOnly(CallLog log) : DomainEventHandler<AfterCommitOnly>
    {
        protected override Task Handle(AfterCommitOnly domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(HandleAfterCommitOnly), domainEvent);
            return Task.CompletedTask;
        }
    }
}
