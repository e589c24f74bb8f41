namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>
/// Runs every stored entity of a type through its event sources, so events that sources added later or rules that depend on
/// time ("ends in 2 days") catch up without a save of each entity. Entities are read in pages in key order; each page runs
/// in its own scope and is saved in one transaction (the handlers' effects, outbox rows, handled keys and the checkpoint), so
/// a crash loses at most the page under way and a run with <see cref="BackfillOptions.Resume"/> continues after the last
/// committed page. Keyed events whose key was handled are skipped, so running it again produces nothing new for them.
/// Registered by <c>AddEntityFrameworkOutbox&lt;TContext&gt;()</c>; the context needs <c>AddDomainEventsKeyedEvents()</c> in its model.
/// </summary>
/// <typeparam name="TContext">The DbContext that stores the entities.</typeparam>
public interface IEventSourceBackfill<TContext>
    where TContext : Microsoft.EntityFrameworkCore.DbContext
{
    /// <summary>Runs the event sources of <typeparamref name="TEntity"/> over every stored entity of it.</summary>
    /// <typeparam name="TEntity">The entity type, with a single-column key and at least one registered source.</typeparam>
    /// <param name="options">How to run (default: from the first entity, pages of 500).</param>
    /// <param name="progress">Told after each committed page.</param>
    /// <param name="cancellationToken">Stops the run between pages or in the page under way, which is then not committed.</param>
    /// <returns>The pass's figures.</returns>
    /// <exception cref="BackfillAlreadyRunningException">Another run holds this backfill, or took it over during this run.</exception>
    /// <exception cref="BackfillNotPossibleException">The entity type has no sources, is not in the model, or has a key the backfill cannot order by, or a page ends at a key longer than the checkpoint can hold (that page commits nothing).</exception>
    Task<BackfillProgress> RunAsync<TEntity>(BackfillOptions? options = null, IProgress<BackfillProgress>? progress = null, CancellationToken cancellationToken = default)
        where TEntity : class;
}
