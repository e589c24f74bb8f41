namespace DomainEvents.Dispatching;

/// <summary>
/// Told when an <see cref="AfterCommitAttribute"/> handler fails or is cancelled. The save it follows is committed, so
/// such a failure never reaches the caller of <c>SaveChangesAsync</c> or <c>CommitAsync</c>; it is logged, and each
/// registered observer is told, to alert, record or schedule the work again. Register implementations as services.
/// In a <c>TransactionScope</c> the handlers run before the scope commits, so an observer is told before the commit and
/// the scope may still roll back; a database error there rolls the scope back and is logged, not told, since the save
/// will not commit.
/// </summary>
public interface IAfterCommitFailureObserver
{
    /// <summary>Called once per event whose after-commit handlers failed; the remaining events' handlers still run.</summary>
    /// <param name="domainEvent">The saved event (committed, or waiting for its scope).</param>
    /// <param name="exception">What the handler threw (an <see cref="OperationCanceledException"/> when the caller's token was cancelled).</param>
    void OnAfterCommitFailed(IDomainEvent domainEvent, Exception exception);
}
