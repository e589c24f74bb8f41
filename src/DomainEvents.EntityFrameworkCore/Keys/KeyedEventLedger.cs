using DomainEvents.Errors;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>Decides whether a keyed event is dispatched: once ever per key, recorded in the save that dispatches it.</summary>
internal static class KeyedEventLedger
{
    /// <summary>
    /// Takes the key for this save, unless this save or an earlier committed one has it: the ledger row is added to the
    /// save, so it commits with the handlers' effects and the outbox row, or not at all.
    /// </summary>
    /// <returns><see langword="false"/> when the key was handled: the event is skipped.</returns>
    /// <exception cref="InvalidEventKeyException">The key is empty, too long, or holds a control character.</exception>
    /// <exception cref="KeyedEventsNotMappedException">The context has no ledger table.</exception>
    public static async Task<bool> TakeAsync(
        DbContext context, IKeyedEvent keyed, ISet<string> takenThisSave, IReadOnlyDictionary<string, bool>? known, TimeProvider time, CancellationToken cancellationToken)
    {
        var key = InvalidEventKeyException.Check(keyed);
        if (context.Model.FindEntityType(typeof(HandledEventKey)) is null)
        {
            throw new KeyedEventsNotMappedException(context.GetType(), keyed.GetType());
        }

        // A row an earlier, failed attempt of this save added is still tracked as Added: the key is taken. A row tracked as
        // Unchanged may belong to a transaction rolled back since: only the table says whether it holds.
        var tracked = context.ChangeTracker.Entries<HandledEventKey>().FirstOrDefault(e => e.Entity.Key == key && e.Entity.Handler == HandledEventKey.InProcess);
        if (takenThisSave.Contains(key) || tracked?.State == EntityState.Added
            || (known is not null && known.TryGetValue(key, out var handled)
                ? handled
                : await context.Set<HandledEventKey>().AsNoTracking().AnyAsync(k => k.Key == key && k.Handler == HandledEventKey.InProcess, cancellationToken).ConfigureAwait(false)))
        {
            KeyedEventMetrics.Skipped(keyed.GetType().Name);
            return false;
        }

        takenThisSave.Add(key);
        var now = time.GetUtcNow().UtcDateTime;
        if (tracked is not null)
        {
            tracked.Entity.EventType = keyed.GetType().Name;
            tracked.Entity.HandledAt = now;
            tracked.State = EntityState.Added;
        }
        else
        {
            context.Add(new HandledEventKey { Key = key, EventType = keyed.GetType().Name, HandledAt = now });
        }

        return true;
    }

    /// <summary>
    /// Reads in one query per 500 keys which of the valid keys of <paramref name="events"/> are handled (committed), so that a
    /// save with many keyed events (a backfill page) does not ask once per key. Null when there are fewer than two keys or
    /// no ledger (the per-key path then decides, and reports a missing ledger).
    /// </summary>
    public static ValueTask<IReadOnlyDictionary<string, bool>?> ReadHandledAsync(DbContext context, IReadOnlyList<(Microsoft.EntityFrameworkCore.ChangeTracking.EntityEntry Aggregate, IDomainEvent Event)> events, CancellationToken cancellationToken)
    {
        // Every save's round comes here: one that has no ledger, or fewer than two keyed events, allocates nothing.
        if (context.Model.FindEntityType(typeof(HandledEventKey)) is null || !HasTwoKeyed(events))
        {
            return ValueTask.FromResult<IReadOnlyDictionary<string, bool>?>(null);
        }

        var keys = events.Select(e => e.Event).OfType<IKeyedEvent>().Select(k => k.EventKey).Where(InvalidEventKeyException.IsValid).Distinct(StringComparer.Ordinal).ToList();
        return keys.Count < 2 ? ValueTask.FromResult<IReadOnlyDictionary<string, bool>?>(null) : new ValueTask<IReadOnlyDictionary<string, bool>?>(ReadAsync(context, keys, cancellationToken));
    }

    private static bool HasTwoKeyed(IReadOnlyList<(Microsoft.EntityFrameworkCore.ChangeTracking.EntityEntry Aggregate, IDomainEvent Event)> events)
    {
        var keyed = 0;
        for (var i = 0; i < events.Count && keyed < 2; i++)
        {
            keyed += events[i].Event is IKeyedEvent ? 1 : 0;
        }

        return keyed == 2;
    }

    private static async Task<IReadOnlyDictionary<string, bool>?> ReadAsync(DbContext context, List<string> keys, CancellationToken cancellationToken)
    {
        var known = keys.ToDictionary(k => k, _ => false, StringComparer.Ordinal);
        foreach (var chunk in keys.Chunk(500))
        {
            var handled = await context.Set<HandledEventKey>().AsNoTracking()
                .Where(k => k.Handler == HandledEventKey.InProcess && chunk.Contains(k.Key))
                .Select(k => k.Key)
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            foreach (var key in handled)
            {
                if (!known.ContainsKey(key))
                {
                    // A collation that matched another spelling of a key: only the per-key check can say which.
                    return null;
                }

                known[key] = true;
            }
        }

        return known;
    }

    /// <summary>Whether a keyed event's key is handled (committed), for the synchronous save, which cannot dispatch.</summary>
    public static bool IsHandled(DbContext context, IKeyedEvent keyed)
    {
        var key = InvalidEventKeyException.Check(keyed);
        return context.Model.FindEntityType(typeof(HandledEventKey)) is not null
               && context.Set<HandledEventKey>().AsNoTracking().Any(k => k.Key == key && k.Handler == HandledEventKey.InProcess);
    }
}
