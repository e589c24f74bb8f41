using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using MediatR;

namespace DomainEvents.Tests.Dispatching;

public sealed class PropagatingHandlerFailures
{
    private DispatcherHost _host = null!;

    /// <summary>Carries the exception its handler throws, so the test can check it arrives unchanged.</summary>
    public sealed record PaymentDeclined(Guid PaymentId, Exception Failure) : IDomainEvent;

    public sealed record RefundRejected(Guid RefundId, Exception Failure) : IDomainEvent;

    public sealed record ChargebackOpened(Guid ChargebackId, Exception Failure) : IDomainEvent;

    public sealed class FailAsynchronously : DomainEventHandler<PaymentDeclined>
    {
        protected override async Task Handle(PaymentDeclined domainEvent, CancellationToken cancellationToken)
        {
            await Task.Yield();
            throw domainEvent.Failure;
        }
    }

    public sealed class FailSynchronously : INotificationHandler<DomainEventNotification<RefundRejected>>
    {
        public Task Handle(DomainEventNotification<RefundRejected> notification, CancellationToken cancellationToken) =>
            throw notification.DomainEvent.Failure;
    }

    [AfterCommit]
    public sealed class FailAfterCommit : DomainEventHandler<ChargebackOpened>
    {
        protected override Task Handle(ChargebackOpened domainEvent, CancellationToken cancellationToken) =>
            Task.FromException(domainEvent.Failure);
    }

    [SetUp]
    public void StartHost() => _host = new DispatcherHost();

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task An_exception_thrown_by_an_async_handler_propagates_out_of_DispatchAsync_unchanged()
    {
        var failure = new InvalidOperationException("payment gateway unavailable");

        var act = () => _host.Dispatcher.DispatchAsync(new PaymentDeclined(Guid.NewGuid(), failure));

        (await act.Should().ThrowExactlyAsync<InvalidOperationException>()).Which.Should().BeSameAs(failure);
    }

    [Test]
    public async Task An_exception_thrown_synchronously_by_a_handler_propagates_out_of_DispatchAsync_unchanged()
    {
        var failure = new TimeoutException("refund service timed out");

        var act = () => _host.Dispatcher.DispatchAsync(new RefundRejected(Guid.NewGuid(), failure));

        (await act.Should().ThrowExactlyAsync<TimeoutException>()).Which.Should().BeSameAs(failure);
    }

    [Test]
    public async Task An_exception_thrown_by_an_after_commit_handler_propagates_out_of_DispatchAfterCommitAsync_unchanged()
    {
        var failure = new InvalidOperationException("mail server down");

        var act = () => _host.Dispatcher.DispatchAfterCommitAsync(new ChargebackOpened(Guid.NewGuid(), failure));

        (await act.Should().ThrowExactlyAsync<InvalidOperationException>()).Which.Should().BeSameAs(failure);
    }
}
