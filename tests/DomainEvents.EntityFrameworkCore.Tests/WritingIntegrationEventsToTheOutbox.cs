using System.Diagnostics;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Messaging;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests;

[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class WritingIntegrationEventsToTheOutbox(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() =>
        _host = await TestHost.StartAsync(provider, o => o.MapIntegrationEvent<OrderShipped>(m =>
        {
            m.Exchange = "shipping";
            m.Version = 2;
        }));

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task One_row_per_integration_event_with_every_column_set()
    {
        using var activity = new Activity("place-order").SetIdFormat(ActivityIdFormat.W3C).Start();
        activity.TraceStateString = "vendor=1";
        activity.AddBaggage("tenant", "acme");
        var before = DateTime.UtcNow.AddSeconds(-1);
        var order = Order.Place("ada", 42.5m);

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        var row = (await _host.OutboxAsync()).Should().ContainSingle().Subject;
        row.MessageId.Version.Should().Be(7, "message ids are UUIDv7");
        row.MessageType.Should().Be("order.placed");
        row.Version.Should().Be(1);
        row.Exchange.Should().Be("order");
        row.RoutingKey.Should().Be("order.placed");
        row.PartitionKey.Should().Be($"Order/{order.Id}");
        using (var payload = JsonDocument.Parse(row.Payload))
        {
            payload.RootElement.GetProperty("orderId").GetGuid().Should().Be(order.Id);
            payload.RootElement.GetProperty("total").GetDecimal().Should().Be(42.5m);
        }

        using (var headers = JsonDocument.Parse(row.Headers))
        {
            headers.RootElement.GetProperty("correlation-id").GetGuid().Should().Be(row.MessageId);
            headers.RootElement.TryGetProperty("causation-id", out _).Should().BeFalse();
            headers.RootElement.GetProperty("traceparent").GetString().Should().Be(activity.Id);
            headers.RootElement.GetProperty("tracestate").GetString().Should().Be("vendor=1");
            headers.RootElement.GetProperty("baggage").GetString().Should().Be("tenant=acme");
        }

        row.OccurredAt.Should().BeAfter(before).And.BeBefore(DateTime.UtcNow.AddSeconds(1));
        row.Status.Should().Be(OutboxMessageStatus.Pending);
        row.Attempts.Should().Be(0);
        row.NextAttemptAt.Should().Be(row.OccurredAt);
        row.LastError.Should().BeNull();
        row.ProcessedAt.Should().BeNull();
        row.LeaseOwner.Should().BeNull();
        row.LeaseExpiresAt.Should().BeNull();
    }

    [Test]
    public async Task A_plain_domain_event_writes_no_row()
    {
        var order = Order.Place("ada", 1m);
        order.ClearDomainEvents();
        order.AddNote("hello");

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        _host.Log.Of("note:").Should().ContainSingle();
        (await _host.OutboxAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task Rows_keep_the_order_in_which_events_were_raised()
    {
        var order = Order.Place("ada", 0m);
        for (var i = 1; i <= 10; i++)
        {
            order.RaiseEvent(new OrderPlaced(order.Id, i));
        }

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        var totals = (await _host.OutboxAsync()).Select(r => JsonDocument.Parse(r.Payload).RootElement.GetProperty("total").GetDecimal());
        totals.Should().Equal(0m, 1m, 2m, 3m, 4m, 5m, 6m, 7m, 8m, 9m, 10m);
    }

    [Test]
    public async Task Attribute_and_fluent_overrides_replace_the_conventions()
    {
        var order = Order.Place("ada", 1m);
        order.ClearDomainEvents();
        order.Cancel("changed mind");
        order.Ship();

        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        var rows = await _host.OutboxAsync();
        rows.Select(r => (r.MessageType, r.Version, r.Exchange, r.RoutingKey)).Should().Equal(
            ("sales.order-cancelled", 3, "sales", "sales.order.cancelled"),
            ("order.shipped", 2, "shipping", "order.shipped"));
    }

    [Test]
    public async Task An_event_with_its_own_partition_key_is_partitioned_by_it()
    {
        var invoice = Invoice.Number("2026-0042", 99m);
        await _host.InScopeAsync(async db =>
        {
            db.Invoices.Add(invoice);
            await db.SaveChangesAsync();
        });

        var row = (await _host.OutboxAsync()).Should().ContainSingle().Subject;
        row.PartitionKey.Should().Be("invoice-number/2026-0042", "the event's key replaces the aggregate's, which the database has not generated yet");
        row.Exchange.Should().Be("invoice");
    }

    [Test]
    public async Task Events_raised_while_handling_a_message_carry_its_correlation_and_causation_ids()
    {
        var incoming = Guid.CreateVersion7();
        var correlation = Guid.CreateVersion7();
        var order = Order.Place("ada", 1m);

        using (MessageContext.Begin(incoming, correlation))
        {
            await _host.InScopeAsync(async db =>
            {
                db.Orders.Add(order);
                await db.SaveChangesAsync();
            });
        }

        using var headers = JsonDocument.Parse((await _host.OutboxAsync()).Single().Headers);
        headers.RootElement.GetProperty("correlation-id").GetGuid().Should().Be(correlation);
        headers.RootElement.GetProperty("causation-id").GetGuid().Should().Be(incoming);
    }

    [Test]
    public async Task Schema_and_table_names_are_configurable()
    {
        var options = new DbContextOptionsBuilder<CustomTablesDbContext>();
        _host.Database.Configure(options);
        await using var db = new CustomTablesDbContext(options.Options);
        var outbox = db.Model.FindEntityType(typeof(OutboxMessage))!;
        var inbox = db.Model.FindEntityType(typeof(Inbox.InboxMessage))!;

        outbox.GetTableName().Should().Be("events_out");
        outbox.GetSchema().Should().Be("messaging");
        inbox.GetTableName().Should().Be("events_in");
    }

    private sealed class CustomTablesDbContext(DbContextOptions<CustomTablesDbContext> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) =>
            modelBuilder.AddDomainEventsOutbox(o =>
            {
                o.Schema = "messaging";
                o.OutboxTable = "events_out";
                o.InboxTable = "events_in";
            });
    }
}
