namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Thrown through EF Core's commit when the inbox's commit found its transaction aborted by a failed statement that the
/// inbox did not see: nothing was committed, and the transaction is still open. The inbox rolls back and fails the message.
/// </summary>
internal sealed class InboxCommitAbortedException() : InvalidOperationException("The inbox's transaction had been aborted: nothing was committed.");
