namespace DomainEvents.Dispatching;

/// <summary>
/// Implemented by the default dispatcher so the unit of work can tell whether a round of dispatch ran any handler.
/// When none ran, no user code ran, so no handler can have raised more events or attached more aggregates, and the
/// unit of work need not scan (and run DetectChanges on) the change tracker again. A dispatcher of your own that
/// implements it must count every dispatch that could have run user code: one left out makes the unit of work miss the
/// events its handlers raised, and they are not saved.
/// </summary>
public interface IHandlerRunCounter
{
    /// <summary>
    /// Gets how many calls to <see cref="IDomainEventDispatcher.DispatchAsync"/> so far resolved at least one handler,
    /// or may have. It only grows.
    /// </summary>
    int DispatchesWithHandlers { get; }
}
