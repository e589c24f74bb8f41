using DomainEvents.Dispatching;
using DomainEvents.MassTransit;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DomainEvents.CommandHost;

public sealed class Ticket : AggregateRoot
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public DateTime ExpiresAt { get; set; }

    public static Ticket Sell(DateTime expiresAt)
    {
        var ticket = new Ticket { ExpiresAt = expiresAt };
        ticket.Raise(new TicketSold(ticket.Id));
        return ticket;
    }
}

public sealed record TicketSold(Guid TicketId) : IIntegrationEvent;

public sealed record TicketExpired(Guid TicketId) : IIntegrationEvent, IKeyedEvent
{
    public string EventKey => $"ticket-expired:{TicketId}";
}

public sealed class Receipt
{
    public long Id { get; set; }

    public Guid TicketId { get; set; }
}

/// <summary>What the audit handler records, once per sold ticket.</summary>
public sealed class AuditEntry
{
    public long Id { get; set; }

    public Guid TicketId { get; set; }
}

public sealed class ShopDbContext(DbContextOptions<ShopDbContext> options) : DbContext(options)
{
    public DbSet<Ticket> Tickets => Set<Ticket>();

    public DbSet<Receipt> Receipts => Set<Receipt>();

    public DbSet<AuditEntry> Audits => Set<AuditEntry>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Ticket>().Property(t => t.Id).ValueGeneratedNever();
        modelBuilder.AddDomainEventsOutbox();
        modelBuilder.AddDomainEventsKeyedEvents();
    }
}

/// <summary>Records each sold ticket once, behind the inbox.</summary>
public sealed class TicketSoldConsumer(ShopDbContext db) : IConsumer<TicketSold>
{
    public async Task Consume(ConsumeContext<TicketSold> context)
    {
        db.Receipts.Add(new Receipt { TicketId = context.Message.TicketId });
        await db.SaveChangesAsync(context.CancellationToken);
    }
}

public static class ShopHost
{
    /// <param name="Audit">Whether the host also has the audit handler (a second consumer of TicketSold, on a queue of its own).</param>
    public sealed record Settings(string Provider, string ConnectionString, string? RabbitMq, string Exchange, bool Audit = false)
    {
        public static Settings FromEnvironment() => new(
            Environment.GetEnvironmentVariable("SHOP_PROVIDER") ?? "sqlite",
            Environment.GetEnvironmentVariable("SHOP_CONNECTION") ?? "Data Source=shop.db",
            Environment.GetEnvironmentVariable("SHOP_RABBITMQ"),
            Environment.GetEnvironmentVariable("SHOP_EXCHANGE") ?? "shop",
            Environment.GetEnvironmentVariable("SHOP_AUDIT") == "1");
    }

    public static void Configure(IServiceCollection services, IConfiguration configuration, Settings settings)
    {
        // Logs on standard error, so that a command's --json on standard output stays JSON.
        services.AddLogging(l => l.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning));
        services.AddDbContext<ShopDbContext>(o =>
        {
            if (settings.Provider == "sqlite")
            {
                o.UseSqlite(settings.ConnectionString);
            }
            else
            {
                o.UseNpgsql(settings.ConnectionString);
            }
        });
        var events = services.AddDomainEvents(configuration, o =>
            {
                o.MapIntegrationEvent<TicketSold>(m => m.Exchange = settings.Exchange);
                o.MapIntegrationEvent<TicketExpired>(m => m.Exchange = settings.Exchange);
            })
            .AddEntityFrameworkOutbox<ShopDbContext>()
            .AddEventSource<Ticket>(t => t.ExpiresAt <= DateTime.UtcNow ? [new TicketExpired(t.Id)] : []);
        if (settings.RabbitMq is null)
        {
            return;
        }

        events.AddMassTransitRelay(r => r.PollingInterval = TimeSpan.FromMilliseconds(200));
        services.AddMassTransit(x =>
        {
            x.AddIntegrationEventConsumer<TicketSoldConsumer>(c =>
            {
                c.Bind(settings.Exchange, "ticket.sold");
                c.QueueName = settings.Exchange + "-receipts";
                c.UseInbox<ShopDbContext>();
            });
            if (settings.Audit)
            {
                x.AddIntegrationEventHandler<TicketSold>("ticket-audit", async context =>
                {
                    var db = context.GetPayload<IServiceProvider>().GetRequiredService<ShopDbContext>();
                    db.Audits.Add(new AuditEntry { TicketId = context.Message.TicketId });
                    await db.SaveChangesAsync(context.CancellationToken);
                }, c =>
                {
                    c.Bind(settings.Exchange, "ticket.sold");
                    c.QueueName = settings.Exchange + "-audit";
                    c.UseInbox<ShopDbContext>();
                });
            }
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(new Uri(settings.RabbitMq));
                cfg.ConfigureIntegrationEventEndpoints(context);
            });
        });
    }
}
