using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>Drains one context's outbox, for a process with several; the plain <see cref="IOutboxDrain"/> drains them all.</summary>
/// <typeparam name="TContext">The DbContext whose outbox is drained.</typeparam>
public interface IOutboxDrain<TContext> : IOutboxDrain
    where TContext : DbContext;
