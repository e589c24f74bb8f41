namespace DomainEvents.Dispatching;

/// <summary>
/// The one seam between the unit of work and the in-process mediator. The default implementation
/// publishes through MediatR; replace it to use another mediator.
/// </summary>
public interface IDomainEventDispatcher
{
    /// <summary>Dispatches an event to the handlers that run inside the unit of work.</summary>
    /// <param name="domainEvent">The event.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>A task that completes when every handler has run.</returns>
    Task DispatchAsync(IDomainEvent domainEvent, CancellationToken cancellationToken = default);

    /// <summary>Dispatches an event to the handlers marked <see cref="AfterCommitAttribute"/>.</summary>
    /// <param name="domainEvent">The event, whose transaction has committed.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>A task that completes when every after-commit handler has run.</returns>
    Task DispatchAfterCommitAsync(IDomainEvent domainEvent, CancellationToken cancellationToken = default);
}
