using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// Header enrichers stamp every outbox row at write time from the scope that saves; a header that could not travel in
/// every envelope fails the save and commits nothing.
/// </summary>
[TestFixture(DatabaseProvider.Sqlite)]
[TestFixture(DatabaseProvider.PostgreSql, Category = "Integration")]
public sealed class EnrichingOutboxHeaders(DatabaseProvider provider)
{
    private TestHost _host = null!;

    [TearDown]
    public async Task StopAsync() => await _host.DisposeAsync();

    [Test]
    public async Task Every_row_carries_the_headers_of_the_scope_that_saved_it()
    {
        _host = await TestHost.StartAsync(provider,
            services: s => s.AddScoped<Tenant>(),
            events: e => e.AddHeaderEnricher<TenantEnricher>()
                          .AddHeaderEnricher((_, h) => h.Set("kind", h.MessageType.Split('.')[0])));

        foreach (var tenant in new[] { "acme", "globex" })
        {
            await _host.InScopeAsync(async (db, services) =>
            {
                services.GetRequiredService<Tenant>().Name = tenant;
                db.Orders.Add(Order.Place(tenant, 1m));
                services.GetRequiredService<IOutboxPublisher<OrderingDbContext>>().Publish("user", "user.updated", new { }, "user/1");
                await db.SaveChangesAsync();
            });
        }

        var rows = await _host.OutboxAsync();
        // A published row is added when Publish is called, an aggregate's during the save: it comes first.
        rows.Select(r => (r.MessageType, Header(r, "tenant"), Header(r, "kind"))).Should().Equal(
            ("user.updated", "acme", "user"),
            ("order.placed", "acme", "order"),
            ("user.updated", "globex", "user"),
            ("order.placed", "globex", "order"));
        JsonDocument.Parse(rows[0].Headers).RootElement.GetProperty("correlation-id").GetGuid().Should().NotBeEmpty("the library's own headers are still there");
    }

    [TestCase("Tenant", "acme", TestName = "A header named with a capital letter fails the save and commits nothing")]
    [TestCase("x-tenant", "acme", TestName = "A header named with a dash fails the save and commits nothing")]
    [TestCase("traceparent", "00-x", TestName = "A header the library writes itself fails the save and commits nothing")]
    [TestCase("tenant", "a\r\nb", TestName = "A header value with a line break fails the save and commits nothing")]
    public async Task A_bad_header_fails_the_save(string name, string value)
    {
        _host = await TestHost.StartAsync(provider, events: e => e.AddHeaderEnricher((_, h) => h.Set(name, value)));

        var save = () => _host.InScopeAsync(async db =>
        {
            db.Orders.Add(Order.Place("c1", 1m));
            await db.SaveChangesAsync();
        });

        var error = (await save.Should().ThrowAsync<InvalidOutboxHeaderException>()).Which;
        (error.Name, error.Value).Should().Be((name, value));
        (await _host.OutboxAsync()).Should().BeEmpty();
        (await _host.OrderCountAsync()).Should().Be(0);
    }

    private static string? Header(OutboxMessage row, string name) =>
        JsonDocument.Parse(row.Headers).RootElement.TryGetProperty(name, out var value) ? value.GetString() : null;

    public sealed class Tenant
    {
        public string Name { get; set; } = "";
    }

    public sealed class TenantEnricher(Tenant tenant) : IOutboxHeaderEnricher
    {
        public void Enrich(OutboxHeaderContext context) => context.Set("tenant", tenant.Name);
    }
}
