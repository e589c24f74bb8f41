using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// A save whose events have no in-process handler: no user code runs between the interceptor's pass over the
/// change tracker and the insert, so it looks at the change tracker once.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class SavingEventsNoHandlerHandles(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [SetUp]
    public async Task StartAsync() => _host = await TestHost.StartAsync(provider);

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task Each_event_is_written_to_the_outbox_once_and_leaves_the_aggregate()
    {
        var first = Invoice.Number("2026-0042", 99m);
        var second = Invoice.Number("2026-0043", 1m);

        await _host.InScopeAsync(async db =>
        {
            db.Invoices.AddRange(first, second);
            await db.SaveChangesAsync();
        });

        first.DomainEvents.Should().BeEmpty();
        second.DomainEvents.Should().BeEmpty();
        (await _host.OutboxAsync()).Select(m => m.PartitionKey).Should().BeEquivalentTo(["invoice-number/2026-0042", "invoice-number/2026-0043"]);
        _host.Log.Calls.Should().BeEmpty();
    }

    [Test]
    public async Task Events_without_handlers_saved_with_events_that_have_handlers_are_all_written_once()
    {
        var invoice = Invoice.Number("2026-0044", 10m);
        var order = Order.Place("grace", 10m);

        await _host.InScopeAsync(async db =>
        {
            db.Invoices.Add(invoice);
            db.Orders.Add(order);
            await db.SaveChangesAsync();
        });

        (await _host.OutboxAsync()).Select(m => m.MessageType).Should().BeEquivalentTo(["invoice.numbered", "order.placed"]);
        _host.Log.Of("audit:").Should().Equal($"audit:{order.Id}");
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task The_contexts_AutoDetectChangesEnabled_setting_is_the_same_after_the_save(bool autoDetectChanges)
    {
        await _host.InScopeAsync(async db =>
        {
            db.ChangeTracker.AutoDetectChangesEnabled = autoDetectChanges;
            db.Invoices.Add(Invoice.Number("2026-0045", 5m));
            await db.SaveChangesAsync();

            db.ChangeTracker.AutoDetectChangesEnabled.Should().Be(autoDetectChanges);
        });
    }

    [Test]
    public async Task A_change_made_after_the_save_is_detected_by_the_next_save()
    {
        var order = Order.Place("grace", 10m);
        await _host.InScopeAsync(async db =>
        {
            db.Orders.Add(order);
            await db.SaveChangesAsync();

            db.Entry(order).Property(o => o.Customer).CurrentValue.Should().Be("grace");
            typeof(Order).GetProperty(nameof(Order.Customer))!.SetValue(order, "hopper");
            (await db.SaveChangesAsync()).Should().Be(1);
        });

        (await _host.InScopeAsync(db => db.Orders.Select(o => o.Customer).SingleAsync())).Should().Be("hopper");
    }
}
