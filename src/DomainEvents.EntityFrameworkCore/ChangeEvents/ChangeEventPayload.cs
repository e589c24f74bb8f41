namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>The payload of every change event; its JSON names follow the configured naming policy (camelCase by default).</summary>
/// <param name="Entity">The entity's CLR name, such as <c>Question</c>.</param>
/// <param name="Key">The key: its value, or an object of values for a composite key.</param>
/// <param name="Operation"><c>created</c>, <c>updated</c> or <c>deleted</c>.</param>
/// <param name="Changed">The changed properties: every property of a created entity, none of a deleted one.</param>
/// <param name="Data">The selected fields or the projection; for a deleted entity, the last known values.</param>
internal sealed record ChangeEventPayload(string Entity, object? Key, string Operation, IReadOnlyList<string> Changed, object? Data);
