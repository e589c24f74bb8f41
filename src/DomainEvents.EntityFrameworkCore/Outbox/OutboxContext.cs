namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>A DbContext type with an outbox in this process, one registration per context, for what looks at them all (the health check).</summary>
/// <param name="Type">The DbContext type.</param>
internal sealed record OutboxContext(Type Type);
