using Microsoft.EntityFrameworkCore;

namespace Ordering.Billing;

// Billing's own database. AddDomainEventsOutbox() adds the inbox table the consumer uses (and an outbox
// table, for integration events Billing would raise itself).
public sealed class BillingDbContext(DbContextOptions<BillingDbContext> options) : DbContext(options)
{
    public DbSet<Invoice> Invoices => Set<Invoice>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Invoice>().Property(i => i.Id).ValueGeneratedNever();
        modelBuilder.AddDomainEventsOutbox();
    }
}
