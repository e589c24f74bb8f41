using DomainEvents.Dispatching;
using DomainEvents.Tests.Support;
using MediatR;

namespace DomainEvents.Tests.Dispatching;

public sealed class DispatchingToAfterCommitHandlers
{
    private DispatcherHost _host = null!;

    public sealed record InvoiceSettled(Guid InvoiceId) : IDomainEvent;

    public sealed class BookSettlement(CallLog log) : DomainEventHandler<InvoiceSettled>
    {
        protected override Task Handle(InvoiceSettled domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(BookSettlement), domainEvent);
            return Task.CompletedTask;
        }
    }

    [AfterCommit]
    public sealed class EmailSettlementReceipt(CallLog log) : DomainEventHandler<InvoiceSettled>
    {
        protected override Task Handle(InvoiceSettled domainEvent, CancellationToken cancellationToken)
        {
            log.Record(nameof(EmailSettlementReceipt), domainEvent);
            return Task.CompletedTask;
        }
    }

    [AfterCommit]
    public sealed class EvictSettlementCache(CallLog log) : INotificationHandler<DomainEventNotification<InvoiceSettled>>
    {
        public Task Handle(DomainEventNotification<InvoiceSettled> notification, CancellationToken cancellationToken)
        {
            log.Record(nameof(EvictSettlementCache), notification.DomainEvent);
            return Task.CompletedTask;
        }
    }

    [SetUp]
    public void StartHost() => _host = new DispatcherHost();

    [TearDown]
    public void StopHost() => _host.Dispose();

    [Test]
    public async Task DispatchAsync_does_not_invoke_after_commit_handlers()
    {
        var invoiceSettled = new InvoiceSettled(Guid.NewGuid());

        await _host.Dispatcher.DispatchAsync(invoiceSettled);

        _host.Log.Calls.Should().Equal(new HandlerCall(nameof(BookSettlement), invoiceSettled));
    }

    [Test]
    public async Task DispatchAfterCommitAsync_invokes_every_after_commit_handler_once()
    {
        var invoiceSettled = new InvoiceSettled(Guid.NewGuid());

        await _host.Dispatcher.DispatchAfterCommitAsync(invoiceSettled);

        _host.Log.Calls.Should().BeEquivalentTo([
            new HandlerCall(nameof(EmailSettlementReceipt), invoiceSettled),
            new HandlerCall(nameof(EvictSettlementCache), invoiceSettled),
        ]);
    }

    [Test]
    public async Task DispatchAfterCommitAsync_does_not_invoke_in_transaction_handlers()
    {
        await _host.Dispatcher.DispatchAfterCommitAsync(new InvoiceSettled(Guid.NewGuid()));

        _host.Log.By(nameof(BookSettlement)).Should().BeEmpty();
    }

    [Test]
    public async Task An_event_with_no_after_commit_handlers_is_dispatched_after_commit_to_nobody()
    {
        await _host.Dispatcher.DispatchAfterCommitAsync(new DispatchingToInTransactionHandlers.ParcelWeighed(Guid.NewGuid(), 2m));

        _host.Log.Calls.Should().BeEmpty();
    }
}
