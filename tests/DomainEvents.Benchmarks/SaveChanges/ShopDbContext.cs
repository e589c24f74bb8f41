using Microsoft.EntityFrameworkCore;

namespace DomainEvents.Benchmarks.SaveChanges;

public sealed class ShopDbContext(DbContextOptions<ShopDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(b =>
        {
            b.HasKey(o => o.Id);
            b.Property(o => o.Id).ValueGeneratedNever();
            b.Property(o => o.Customer).IsRequired().HasMaxLength(100);
            b.Property(o => o.Total).HasPrecision(18, 2);
        });
        modelBuilder.AddDomainEventsOutbox();
    }
}
