using Microsoft.EntityFrameworkCore;

namespace DomainEvents.CloudEvents.Tests.Model;

public sealed class OrderingDbContext(DbContextOptions<OrderingDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    public DbSet<Question> Questions => Set<Question>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(b =>
        {
            b.HasKey(o => o.Id);
            b.Property(o => o.Id).ValueGeneratedNever();
        });
        modelBuilder.Entity<Question>().PublishChanges(c => c.ToExchange("polls").Fields(q => new { q.Id, q.Text }));
        modelBuilder.AddDomainEventsOutbox();
    }
}

/// <summary>A plain entity whose saves become CloudEvents, as a post_save hook to K_SINK would send them.</summary>
public sealed class Question
{
    public int Id { get; set; }

    public string Text { get; set; } = "";

    public int Votes { get; set; }
}
