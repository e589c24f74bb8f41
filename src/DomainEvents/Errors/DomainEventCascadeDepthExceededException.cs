namespace DomainEvents.Errors;

/// <summary>Handlers kept raising new events past the configured cascade depth.</summary>
public sealed class DomainEventCascadeDepthExceededException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="maxDepth">The configured maximum depth.</param>
    /// <param name="pendingEventTypes">The event types still waiting at that depth.</param>
    public DomainEventCascadeDepthExceededException(int maxDepth, IReadOnlyList<Type> pendingEventTypes)
        : base($"Domain event handlers were still raising events after {maxDepth} rounds of dispatch " +
               $"(pending: {string.Join(", ", pendingEventTypes.Select(t => t.Name).Distinct())}). " +
               $"Look for handlers that raise each other's events, or raise DomainEventsOptions.{nameof(DomainEventsOptions.MaxCascadeDepth)}. Nothing was saved.")
    {
        MaxDepth = maxDepth;
        PendingEventTypes = pendingEventTypes;
    }

    /// <summary>Gets the configured maximum depth.</summary>
    public int MaxDepth { get; }

    /// <summary>Gets the event types still waiting when the limit was reached.</summary>
    public IReadOnlyList<Type> PendingEventTypes { get; }
}
