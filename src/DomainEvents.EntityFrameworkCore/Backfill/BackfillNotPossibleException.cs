using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>A backfill cannot run for this entity type; the reason says why and what to change. Nothing was read or written.</summary>
public sealed class BackfillNotPossibleException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="entityType">The entity type.</param>
    /// <param name="reason">Why, and what to change.</param>
    public BackfillNotPossibleException(Type entityType, string reason)
        : base($"A backfill of {entityType.Name} cannot run: {reason}")
    {
        EntityType = entityType;
    }

    /// <summary>Gets the entity type.</summary>
    public Type EntityType { get; }
}
