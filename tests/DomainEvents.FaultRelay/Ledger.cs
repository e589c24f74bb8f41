using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

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

/// <summary>Writers that race on the same accounts, in the suite's process and in the relay processes alike.</summary>
public static class LedgerWriters
{
    /// <summary>
    /// Runs <paramref name="writers"/> writers for <paramref name="duration"/>, each depositing to a random account and
    /// saving (twice in one save, one time in three, with <paramref name="sometimesTwice"/>). A lost race (the concurrency
    /// token) did nothing and is tried again; any other failure is reported and retried after a pause (the database is away).
    /// </summary>
    public static Task WriteAsync(IServiceProvider services, Guid[] accounts, int writers, int seed, TimeSpan duration, bool sometimesTwice, Action<Exception> failed)
    {
        var until = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        return Task.WhenAll(Enumerable.Range(0, writers).Select(async w =>
        {
            var random = new Random(seed + w);
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
            {
                try
                {
                    await using var scope = services.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<LedgerDbContext>();
                    var id = accounts[random.Next(accounts.Length)];
                    var account = await db.Accounts.SingleAsync(a => a.Id == id);
                    account.Deposit();
                    if (sometimesTwice && random.Next(3) == 0)
                    {
                        account.Deposit();
                    }

                    await db.SaveChangesAsync();
                    await Task.Delay(30);
                }
                catch (DbUpdateConcurrencyException)
                {
                    // Another writer committed first: this save did nothing, try again.
                }
                catch (Exception ex)
                {
                    failed(ex);
                    await Task.Delay(200);   // the database is away
                }
            }
        }));
    }
}
