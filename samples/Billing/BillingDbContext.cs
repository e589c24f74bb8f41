using Microsoft.EntityFrameworkCore;

namespace Billing;

// Billing's own database. AddDomainEventsInbox() adds the inbox table the consumer uses; a Billing that
// raised integration events itself would call AddDomainEventsOutbox(), which adds both tables.
public sealed class BillingDbContext(DbContextOptions<BillingDbContext> options) : DbContext(options)
{
    public DbSet<Invoice> Invoices => Set<Invoice>();

    public DbSet<KnownCustomer> Customers => Set<KnownCustomer>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Invoice>().Property(i => i.Id).ValueGeneratedNever();
        modelBuilder.Entity<KnownCustomer>().Property(c => c.Id).ValueGeneratedNever();
        modelBuilder.AddDomainEventsInbox();

        // Where the customer replica keeps the position it applied per customer.
        modelBuilder.AddDomainEventsReplicas();
    }
}
