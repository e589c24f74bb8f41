using System.Runtime.CompilerServices;
using DomainEvents.Sources;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>Runs the event sources of the entities a save adds or changes, in the scope of the code that saves.</summary>
internal sealed class EventSourceRunner(IServiceProvider services, IEnumerable<EventSourceRegistration> registrations)
{
    private static readonly ConditionalWeakTable<DbContext, BackfillSweep> Sweeps = [];
    private readonly EventSourceRegistration[] _registrations = [.. registrations];

    public bool HasSources => _registrations.Length > 0;

    /// <summary>Whether a source is registered for <paramref name="entityType"/> or a type it derives from.</summary>
    public bool HasSourcesFor(Type entityType) => _registrations.Any(r => r.EntityType.IsAssignableFrom(entityType));

    /// <summary>Makes the next saves of <paramref name="context"/> run the sources of the page's entities too, though they are unchanged.</summary>
    public static void Attach(DbContext context, BackfillSweep sweep) => Sweeps.AddOrUpdate(context, sweep);

    /// <summary>Ends the sweep of <paramref name="context"/>, once its save has succeeded.</summary>
    public static void Detach(DbContext context)
    {
        // Every save ends here: the lock-free look-up spares the table's lock to saves that are not a backfill's.
        if (Sweeps.TryGetValue(context, out _))
        {
            Sweeps.Remove(context);
        }
    }

    /// <summary>The backfill page being saved by <paramref name="context"/>, if any.</summary>
    public static BackfillSweep? SweepOf(DbContext context) => Sweeps.TryGetValue(context, out var sweep) ? sweep : null;

    /// <summary>
    /// The events the sources yield now. An event equal to one yielded for the same entity by an earlier attempt of this
    /// save (one that failed, its dispatch kept) is that earlier instance, so a retried save does not dispatch it again.
    /// </summary>
    public List<(EntityEntry Entry, IDomainEvent Event)> Run(DbContext context, IReadOnlyList<(EntityEntry Entry, IDomainEvent Event)>? earlier)
    {
        var yielded = new List<(EntityEntry, IDomainEvent)>();
        if (_registrations.Length == 0)
        {
            return yielded;
        }

        var sweep = SweepOf(context);
        var earlierByEntity = earlier?.ToLookup(e => e.Entry.Entity, e => e.Event, ReferenceEqualityComparer.Instance);
        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified)
                && !(entry.State == EntityState.Unchanged && sweep is not null && sweep.Contains(entry.Entity)))
            {
                continue;
            }

            foreach (var registration in _registrations)
            {
                if (!registration.EntityType.IsInstanceOfType(entry.Entity))
                {
                    continue;
                }

                foreach (var domainEvent in registration.Events(services, entry.Entity))
                {
                    var same = earlierByEntity?[entry.Entity].FirstOrDefault(domainEvent.Equals);
                    yielded.Add((entry, same ?? domainEvent));
                }
            }
        }

        return yielded;
    }
}

/// <summary>A backfill page: unchanged entities whose sources run on the save, and where the save reports what came of them.</summary>
internal sealed class BackfillSweep(IEnumerable<object> entities, Action<int, int> counted)
{
    private readonly HashSet<object> _entities = new(entities, ReferenceEqualityComparer.Instance);

    public bool Contains(object entity) => _entities.Contains(entity);

    /// <summary>Called at the end of each attempt of the save, with the events the page's entities yielded and those skipped.</summary>
    public void Count(IReadOnlyList<(EntityEntry Entry, IDomainEvent Event)> sourced, IReadOnlySet<IDomainEvent> skipped)
    {
        var produced = 0;
        var skippedCount = 0;
        foreach (var (entry, domainEvent) in sourced)
        {
            if (Contains(entry.Entity))
            {
                produced++;
                skippedCount += skipped.Contains(domainEvent) ? 1 : 0;
            }
        }

        counted(produced, skippedCount);
    }
}
