using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Tests.Model;

public sealed class OrderingDbContext(DbContextOptions<OrderingDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    public DbSet<AuditEntry> AuditEntries => Set<AuditEntry>();

    public DbSet<Invoice> Invoices => Set<Invoice>();

    public DbSet<Question> Questions => Set<Question>();

    public DbSet<Membership> Memberships => Set<Membership>();

    public DbSet<Tag> Tags => Set<Tag>();

    public DbSet<Challenge> Challenges => Set<Challenge>();

    public DbSet<Coupon> Coupons => Set<Coupon>();

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
        modelBuilder.Entity<Question>(b =>
        {
            b.OwnsOne(q => q.Author);
            b.PublishChanges(c => c.ToExchange("polls").Fields(q => new { q.Id, q.Text, q.Author }));
            b.PublishChanges(c => c.ToExchange("audit").MessageType("audit.question").Version(2).OnAnyChange()
                .Project(q => new { q.Id, Summary = q.Text.ToUpperInvariant() }));
        });
        modelBuilder.Entity<Membership>().HasKey(m => new { m.TenantId, m.UserId });
        modelBuilder.Entity<Tag>(b =>
        {
            b.Property<int>("TagId");
            b.HasKey("TagId");
            b.PublishChanges(c => c.Only(ChangeEvents.ChangeOperations.Created | ChangeEvents.ChangeOperations.Deleted));
        });
        modelBuilder.Entity<Challenge>().Property(c => c.Id).ValueGeneratedNever();
        modelBuilder.Entity<Challenge>().HasQueryFilter(c => !c.Archived);
        modelBuilder.Entity<Coupon>().HasKey(c => c.Code);
        modelBuilder.AddDomainEventsOutbox();
        modelBuilder.AddDomainEventsKeyedEvents();
    }
}

/// <summary>A context without the outbox table.</summary>
public sealed class NoOutboxDbContext(DbContextOptions<NoOutboxDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();
}
