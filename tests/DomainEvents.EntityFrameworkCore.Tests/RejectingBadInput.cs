using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Interception;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Errors;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class RejectingBadInput(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider, o => o.MaxPayloadBytes = 1024, scanHandlers: false);

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task The_inbox_insert_refuses_a_transaction_that_is_not_on_the_consumers_connection()
    {
        // A row written outside the consumer's transaction would commit alone: a consumer that then failed would find its
        // message "handled" when it comes again, and its effects would be lost.
        var messageId = Guid.NewGuid();
        await _host.InScopeAsync(async db =>
        {
            var inbox = _host.Services.GetInboxStatements(db);
            await using var other = _host.Services.CreateAsyncScope();
            var otherDb = other.ServiceProvider.GetRequiredService<OrderingDbContext>();
            await using var foreign = await otherDb.Database.BeginTransactionAsync();
            var act = () => inbox.TryInsertAsync(db, foreign.GetDbTransaction(), messageId, "billing", "order.placed", DateTime.UtcNow, CancellationToken.None);
            (await act.Should().ThrowAsync<ArgumentException>()).WithParameterName("transaction");
            await foreign.RollbackAsync();

            await using var own = await db.Database.BeginTransactionAsync();
            (await inbox.TryInsertAsync(db, own.GetDbTransaction(), messageId, "billing", "order.placed", DateTime.UtcNow, CancellationToken.None)).Should().BeTrue();
            (await inbox.TryInsertAsync(db, own.GetDbTransaction(), messageId, "billing", "order.placed", DateTime.UtcNow, CancellationToken.None)).Should().BeFalse("the second is a duplicate");
            await own.CommitAsync();
        });

        (await _host.InScopeAsync(db => db.Set<InboxMessage>().CountAsync(m => m.MessageId == messageId))).Should().Be(1);
    }

    [Test]
    public async Task An_event_that_cannot_be_serialized_fails_the_save()
    {
        var error = await SaveExpectingFailure<EventSerializationException>(o => o.RaiseEvent(new OrderWithUnserializableField(o.Id, typeof(Order))));
        error.EventType.Should().Be<OrderWithUnserializableField>();
        error.Message.Should().Contain("order.with.unserializable.field");
    }

    [Test]
    public async Task A_payload_over_the_maximum_size_fails_the_save()
    {
        var error = await SaveExpectingFailure<MessagePayloadTooLargeException>(o => o.RaiseEvent(new OrderWithLargePayload(o.Id, new string('x', 2000))));
        error.MaxSize.Should().Be(1024);
        error.Size.Should().BeGreaterThan(2000);
        error.MessageType.Should().Be("order.with.large.payload");
    }

    [Test]
    public async Task A_reserved_exchange_name_fails_the_save()
    {
        var error = await SaveExpectingFailure<InvalidRoutingException>(o => o.RaiseEvent(new OrderWithReservedExchange(o.Id)));
        error.Field.Should().Be("exchange");
        error.Value.Should().Be("amq.orders");
    }

    [Test]
    public async Task A_routing_key_over_255_bytes_fails_the_save()
    {
        var error = await SaveExpectingFailure<InvalidRoutingException>(o => o.RaiseEvent(new OrderWithLongRoutingKey(o.Id)));
        error.Field.Should().Be("routing key");
        error.Message.Should().Contain("300 bytes").And.Contain("255");
    }

    [Test]
    public async Task An_aggregate_whose_key_the_database_generates_cannot_be_partitioned()
    {
        var invoice = Invoice.Issue(10m);
        var act = () => _host.InScopeAsync(async db =>
        {
            db.Invoices.Add(invoice);
            await db.SaveChangesAsync();
        });

        (await act.Should().ThrowAsync<InvalidRoutingException>()).Which.Field.Should().Be("partition key");
        (await _host.InScopeAsync(db => db.Invoices.CountAsync())).Should().Be(0);
        invoice.DomainEvents.Should().ContainSingle();
    }

    [Test]
    public async Task An_integration_event_in_a_context_without_an_outbox_table_fails_the_save()
    {
        var services = new ServiceCollection();
        services.AddDbContext<NoOutboxDbContext>(o => _host.Database.Configure(o));
        services.AddDomainEvents().AddEntityFrameworkOutbox<NoOutboxDbContext>();
        await using var provider1 = services.BuildServiceProvider();
        await using var scope = provider1.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<NoOutboxDbContext>();
        await db.Database.EnsureCreatedAsync();
        var order = Order.Place("ada", 1m);
        db.Orders.Add(order);

        var act = () => db.SaveChangesAsync();

        (await act.Should().ThrowAsync<OutboxNotMappedException>()).WithMessage("*AddDomainEventsOutbox()*");
        order.DomainEvents.Should().ContainSingle();
    }

    private async Task<TException> SaveExpectingFailure<TException>(Action<Order> raise)
        where TException : Exception
    {
        var order = Order.Place("ada", 1m);
        order.ClearDomainEvents();
        raise(order);
        var act = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        var error = (await act.Should().ThrowAsync<TException>()).Which;
        (await _host.OrderCountAsync()).Should().Be(0, "nothing is committed");
        (await _host.OutboxAsync()).Should().BeEmpty();
        order.DomainEvents.Should().ContainSingle("the event stays on its aggregate");
        return error;
    }
}
