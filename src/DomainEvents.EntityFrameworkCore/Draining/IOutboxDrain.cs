namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>
/// For integration tests: waits until the outbox has delivered what was committed, instead of a <c>Task.Delay</c>.
/// Registered by <c>AddEntityFrameworkOutbox&lt;TContext&gt;()</c>; resolve it from the host's services. With several
/// contexts it drains the outbox of each.
/// </summary>
public interface IOutboxDrain
{
    /// <summary>
    /// Returns when every outbox row committed before the call is confirmed by the transport and, with
    /// <see cref="OutboxDrainUntil.Consumed"/>, handled by every consumer of this host that it is bound to (for the rows
    /// committed since the host started).
    /// </summary>
    /// <param name="timeout">How long to wait before giving up.</param>
    /// <param name="until">Whether to wait for the transport's confirmation only (default) or also for this host's consumers.</param>
    /// <param name="cancellationToken">A token to cancel the wait.</param>
    /// <returns>A task that completes when the outbox is drained.</returns>
    /// <exception cref="OutboxNotDrainedException">
    /// The timeout passed, or a row is dead (it will never be confirmed); the exception lists what is still waiting.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// <see cref="OutboxDrainUntil.Consumed"/> was asked for, but no <see cref="IOutboxConsumptionWatcher"/> is registered.
    /// </exception>
    Task DrainAsync(TimeSpan timeout, OutboxDrainUntil until = OutboxDrainUntil.Confirmed, CancellationToken cancellationToken = default);
}
