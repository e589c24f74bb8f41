namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// A DbContext type with an outbox in this process, registered (as a singleton) by <c>AddEntityFrameworkOutbox</c>, one
/// per context, for what looks at them all (the health check, the outbox commands).
/// </summary>
/// <param name="Type">The DbContext type.</param>
public sealed record OutboxContext(Type Type);
