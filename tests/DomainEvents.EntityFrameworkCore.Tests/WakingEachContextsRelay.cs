using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// Two contexts, each with its own NOTIFY channel: a commit in another process wakes the relay of the context it wrote,
/// long before its poll.
/// </summary>
[Category("Integration")]
public sealed class WakingEachContextsRelay
{
    [Test]
    public async Task Rows_committed_elsewhere_in_either_context_are_relayed_at_once()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseProvider.PostgreSql);
        var transport = new SendingRowsCommittedInThisProcess.RecordingTransport();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(transport);
        builder.Services.AddSingleton<HandlerLog>();
        builder.Services.AddDbContext<OrderingDbContext>(o => database.Configure(o));
        builder.Services.AddDbContext<InventoryDbContext>(o => database.Configure(o));
        builder.Services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>())
            .AddEntityFrameworkOutbox<OrderingDbContext>().AddOutboxRelay<SendingRowsCommittedInThisProcess.RecordingTransport>(Slow)
            .AddPostgresNotifications(o => o.Channel = "ordering_outbox")
            .AddEntityFrameworkOutbox<InventoryDbContext>().AddOutboxRelay<SendingRowsCommittedInThisProcess.RecordingTransport>(Slow)
            .AddPostgresNotifications(o => o.Channel = "inventory_outbox");
        using var relays = builder.Build();
        await using (var scope = relays.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OrderingDbContext>().Database.EnsureCreatedAsync();
            await scope.ServiceProvider.GetRequiredService<InventoryDbContext>().GetService<IRelationalDatabaseCreator>().CreateTablesAsync();
        }

        await relays.StartAsync();
        try
        {
            // Another process: it writes both contexts and notifies, and relays nothing itself.
            var writers = new ServiceCollection();
            writers.AddSingleton<HandlerLog>();
            writers.AddDbContext<OrderingDbContext>(o => database.Configure(o));
            writers.AddDbContext<InventoryDbContext>(o => database.Configure(o));
            writers.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<OrderingDbContext>())
                .AddEntityFrameworkOutbox<OrderingDbContext>().AddPostgresNotifications(o => (o.Channel, o.Listen) = ("ordering_outbox", false))
                .AddEntityFrameworkOutbox<InventoryDbContext>().AddPostgresNotifications(o => (o.Channel, o.Listen) = ("inventory_outbox", false));
            await using var writer = writers.BuildServiceProvider();
            await Task.Delay(TimeSpan.FromSeconds(1));

            var clock = Stopwatch.StartNew();
            await using (var scope = writer.CreateAsyncScope())
            {
                var stocks = scope.ServiceProvider.GetRequiredService<InventoryDbContext>();
                stocks.Stocks.Add(Stock.Reserve(2));
                await stocks.SaveChangesAsync();
                var orders = scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
                orders.Orders.Add(Order.Place("ada", 1m));
                await orders.SaveChangesAsync();
            }

            while (transport.Sent.Count < 2 && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(50);
            }

            transport.Sent.Select(e => e.MessageType).Should().BeEquivalentTo(["stock.reserved", "order.placed"], "each context's LISTEN wakes its relay");
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "the relays poll every 60 s");
        }
        finally
        {
            await relays.StopAsync();
        }
    }

    private static void Slow(OutboxRelayOptions relay) => relay.PollingInterval = TimeSpan.FromSeconds(60);
}
