namespace DomainEvents.Dispatching;

/// <summary>
/// Marks an event handler class to run only after the transaction that saved the event has committed,
/// instead of inside it. Use it for effects outside the database (e-mail, caches). Such a handler can be
/// lost if the process stops between the commit and the handler; the outbox cannot.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AfterCommitAttribute : Attribute
{
    /// <summary>
    /// The DI service key under which after-commit handlers are registered as <c>INotificationHandler&lt;T&gt;</c>;
    /// a replacement <see cref="IDomainEventDispatcher"/> resolves them with it.
    /// </summary>
    public const string ServiceKey = "DomainEvents.AfterCommit";
}
