using Microsoft.EntityFrameworkCore;

namespace DomainEvents.CloudEvents.Tests.Model;

public sealed class OrderingDbContext(DbContextOptions<OrderingDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(b =>
        {
            b.HasKey(o => o.Id);
            b.Property(o => o.Id).ValueGeneratedNever();
        });
        modelBuilder.AddDomainEventsOutbox();
    }
}
