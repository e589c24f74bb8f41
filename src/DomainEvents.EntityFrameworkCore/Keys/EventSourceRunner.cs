using DomainEvents.Sources;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>Runs the event sources of the entities a save adds or changes, in the scope of the code that saves.</summary>
internal sealed class EventSourceRunner(IServiceProvider services, IEnumerable<EventSourceRegistration> registrations)
{
    private readonly EventSourceRegistration[] _registrations = [.. registrations];

    public bool HasSources => _registrations.Length > 0;

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

        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified))
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
                    var same = earlier?.FirstOrDefault(e => ReferenceEquals(e.Entry.Entity, entry.Entity) && e.Event.Equals(domainEvent)).Event;
                    yielded.Add((entry, same ?? domainEvent));
                }
            }
        }

        return yielded;
    }
}
