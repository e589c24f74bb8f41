using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Interception;

/// <summary>An integration event was raised in a <c>DbContext</c> whose model has no outbox table.</summary>
public sealed class OutboxNotMappedException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="contextType">The context type.</param>
    public OutboxNotMappedException(Type contextType)
        : base($"{contextType.Name} has no outbox table: call modelBuilder.AddDomainEventsOutbox() in OnModelCreating and add a migration. Nothing was saved.")
    {
        ContextType = contextType;
    }

    /// <summary>Gets the context type.</summary>
    public Type ContextType { get; }

    /// <summary>Throws unless the context's model maps the outbox table.</summary>
    internal static void ThrowIfNotMapped(Microsoft.EntityFrameworkCore.DbContext context)
    {
        if (context.Model.FindEntityType(typeof(Outbox.OutboxMessage)) is null)
        {
            throw new OutboxNotMappedException(context.GetType());
        }
    }
}
