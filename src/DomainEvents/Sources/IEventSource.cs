namespace DomainEvents.Sources;

/// <summary>
/// Looks at an entity's current state and yields the events it implies, such as <c>ChallengeEnded</c> once its end date
/// has passed. It runs on every save that adds or changes a <typeparamref name="TEntity"/>, so it may yield the same
/// event again and again: give such events a key (<see cref="IKeyedEvent"/>) and they are handled once. Register it with
/// <c>AddEventSource</c>; it is resolved from the scope of the code that saves.
/// </summary>
/// <typeparam name="TEntity">The entity type it looks at.</typeparam>
public interface IEventSource<in TEntity>
    where TEntity : class
{
    /// <summary>The events the entity's state implies now.</summary>
    /// <param name="entity">The entity being saved.</param>
    /// <returns>The events; they go through the same pipeline as an aggregate's.</returns>
    IEnumerable<IDomainEvent> EventsOf(TEntity entity);
}
