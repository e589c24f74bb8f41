using Microsoft.EntityFrameworkCore;

namespace DomainEvents.FaultRelay;

/// <summary>Each deposit raises an event whose sequence is the account's new version: per key, the commit order.</summary>
public sealed record Deposited(Guid AccountId, int Sequence) : IIntegrationEvent;

/// <summary>An aggregate that concurrent writers race on; its version is an optimistic concurrency token.</summary>
public sealed class Account : AggregateRoot
{
    public Guid Id { get; private set; } = Guid.CreateVersion7();

    public int Version { get; private set; }

    public void Deposit()
    {
        Version++;
        Raise(new Deposited(Id, Version));
    }
}

/// <summary>The writing service's model, with its outbox.</summary>
public sealed class LedgerDbContext(DbContextOptions<LedgerDbContext> options) : DbContext(options)
{
    public DbSet<Account> Accounts => Set<Account>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Account>().Property(a => a.Id).ValueGeneratedNever();
        modelBuilder.Entity<Account>().Property(a => a.Version).IsConcurrencyToken();
        modelBuilder.AddDomainEventsOutbox();
    }
}
