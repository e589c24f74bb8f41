using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The administration of one context's outbox, for a process with several (a modular monolith). The plain
/// <see cref="IOutboxAdministration"/> is the first context's.
/// </summary>
/// <typeparam name="TContext">The DbContext whose outbox table is administered.</typeparam>
public interface IOutboxAdministration<TContext> : IOutboxAdministration
    where TContext : DbContext;
