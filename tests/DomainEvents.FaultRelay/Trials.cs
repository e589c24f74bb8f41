using DomainEvents.Dispatching;
using DomainEvents.EntityFrameworkCore.Backfill;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.FaultRelay;

/// <summary>An entity with a time-based rule and nothing else: its source says it has ended once its end has passed.</summary>
public sealed class Trial
{
    public long Id { get; set; }

    public DateTime EndsAt { get; set; }
}

/// <summary>What a handled <see cref="TrialEnded"/> leaves behind: one row per handling, with no unique key, so a second handling shows.</summary>
public sealed class TrialEffect
{
    public long Id { get; set; }

    public long TrialId { get; set; }
}

public sealed record TrialEnded(long TrialId) : IKeyedEvent
{
    public string EventKey => $"trial-ended:{TrialId}";
}

public sealed class RecordTrialEnded(TrialDbContext db) : DomainEventHandler<TrialEnded>
{
    protected override Task Handle(TrialEnded domainEvent, CancellationToken cancellationToken)
    {
        db.Effects.Add(new TrialEffect { TrialId = domainEvent.TrialId });
        return Task.CompletedTask;
    }
}

public sealed class TrialDbContext(DbContextOptions<TrialDbContext> options) : DbContext(options)
{
    public DbSet<Trial> Trials => Set<Trial>();

    public DbSet<TrialEffect> Effects => Set<TrialEffect>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Trial>().Property(t => t.Id).ValueGeneratedNever();
        modelBuilder.AddDomainEventsOutbox();
        modelBuilder.AddDomainEventsKeyedEvents();
    }
}

/// <summary>A backfill of the trials as a process of its own, for the fault suite to kill half way.</summary>
public static class BackfillProcess
{
    public const int PageSize = 250;

    /// <summary>The lease of the killed process runs out this long after its last page.</summary>
    public static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(3);

    /// <summary>The services of a host with trials; with <paramref name="sources"/> the trial source is registered.</summary>
    public static ServiceProvider Services(string provider, string connectionString, bool sources)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<TrialDbContext>(o =>
        {
            if (provider == "sqlite")
            {
                o.UseSqlite(connectionString);
            }
            else
            {
                o.UseNpgsql(connectionString);
            }
        });
        var events = services.AddDomainEvents(o => o.AddHandlersFromAssemblyContaining<TrialDbContext>()).AddEntityFrameworkOutbox<TrialDbContext>();
        if (sources)
        {
            events.AddEventSource<Trial>(t => t.EndsAt <= DateTime.UtcNow ? [new TrialEnded(t.Id)] : []);
        }

        return services.BuildServiceProvider();
    }

    /// <summary>Usage: DomainEvents.FaultRelay backfill sqlite|postgres CONNECTION-STRING. Runs the backfill from the first trial.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        await using var services = Services(args[0], args[1], sources: true);
        var progress = new Progress<BackfillProgress>(p => Console.WriteLine($"read {p.EntitiesRead}"));
        await services.GetRequiredService<IEventSourceBackfill<TrialDbContext>>()
            .RunAsync<Trial>(new BackfillOptions { PageSize = PageSize, LeaseDuration = LeaseDuration }, progress);
        return 0;
    }
}
