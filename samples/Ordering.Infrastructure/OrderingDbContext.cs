using Microsoft.EntityFrameworkCore;
using Ordering.Domain;

namespace Ordering.Infrastructure;

public sealed class OrderingDbContext(DbContextOptions<OrderingDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    public DbSet<Customer> Customers => Set<Customer>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(order =>
        {
            order.Property(o => o.Id).ValueGeneratedNever();
            order.Property(o => o.Customer).HasMaxLength(200);
        });

        // Every save of a customer writes a change event to the "customer" exchange in the same transaction, carrying
        // the id and the name; a change to the e-mail address alone publishes nothing.
        modelBuilder.Entity<Customer>(customer =>
        {
            customer.Property(c => c.Id).ValueGeneratedNever();
            customer.PublishChanges(changes => changes.ToExchange("customer").Fields(c => new { c.Id, c.Name }));
        });

        // The outbox table, written in the same transaction as the orders (and the inbox table).
        modelBuilder.AddDomainEventsOutbox();
    }
}
