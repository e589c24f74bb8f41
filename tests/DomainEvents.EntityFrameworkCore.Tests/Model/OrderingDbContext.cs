using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests.Model;

public sealed class OrderingDbContext(DbContextOptions<OrderingDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    public DbSet<AuditEntry> AuditEntries => Set<AuditEntry>();

    public DbSet<Invoice> Invoices => Set<Invoice>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(b =>
        {
            b.HasKey(o => o.Id);
            b.Property(o => o.Id).ValueGeneratedNever();
            b.Property(o => o.Customer).IsRequired();
            b.Property(o => o.Customer).HasMaxLength(100);
        });
        modelBuilder.Entity<AuditEntry>();
        modelBuilder.Entity<Invoice>();
        modelBuilder.AddDomainEventsOutbox();
    }
}

/// <summary>A context without the outbox table.</summary>
public sealed class NoOutboxDbContext(DbContextOptions<NoOutboxDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();
}
