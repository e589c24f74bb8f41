using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests.Model;

public sealed record StockReserved(Guid StockId, int Quantity) : IIntegrationEvent;

public sealed class Stock : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public int Reserved { get; private set; }

    public static Stock Reserve(int quantity)
    {
        var stock = new Stock { Reserved = quantity };
        stock.Raise(new StockReserved(stock.Id, quantity));
        return stock;
    }
}

/// <summary>A second module's context in the same process, with its outbox in a schema of its own.</summary>
public sealed class InventoryDbContext(DbContextOptions<InventoryDbContext> options) : DbContext(options)
{
    public const string Schema = "inventory";

    public DbSet<Stock> Stocks => Set<Stock>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDefaultSchema(Schema);
        modelBuilder.Entity<Stock>().Property(s => s.Id).ValueGeneratedNever();
        modelBuilder.AddDomainEventsOutbox(o => o.Schema = Schema);
    }
}
