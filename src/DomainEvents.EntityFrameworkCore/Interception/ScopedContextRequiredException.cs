namespace DomainEvents.EntityFrameworkCore.Interception;

/// <summary>
/// The outbox's context is pooled (<c>AddDbContextPool</c>) or made by a factory (<c>AddDbContextFactory</c>). Its options are
/// then built once, outside any request scope, so handlers cannot run in the scope of the code that saves, and one
/// interceptor would be shared by every context at once. Register the context with <c>AddDbContext</c>.
/// </summary>
public sealed class ScopedContextRequiredException : DomainEvents.Errors.DomainEventsException
{
    /// <summary>Initializes the exception for the given context type.</summary>
    /// <param name="contextType">The context registered with pooling or a factory.</param>
    public ScopedContextRequiredException(Type contextType)
        : base($"{contextType.Name}'s options are registered as a singleton (AddDbContextPool, AddDbContextFactory, or AddDbContext with optionsLifetime Singleton), so they are built once for the whole application. " +
               "DomainEvents dispatches to handlers in the scope of the code that saves, so it needs a context per scope: register it with " +
               $"services.AddDbContext<{contextType.Name}>(...). A handler that needs its own context can take IDbContextFactory of another context type.")
    {
        ContextType = contextType;
    }

    /// <summary>Gets the context type.</summary>
    public Type ContextType { get; }
}
