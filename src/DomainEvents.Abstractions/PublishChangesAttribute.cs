namespace DomainEvents;

/// <summary>
/// Makes every save of this entity type write a change event to the outbox (<c>question.created</c>,
/// <c>question.updated</c>, <c>question.deleted</c>) in the same transaction, with no event class. Put it once per
/// destination. The fluent form, <c>modelBuilder.Entity&lt;T&gt;().PublishChanges(…)</c>, offers projections too.
/// </summary>
/// <example><code>[PublishChanges("polls", Fields = [nameof(Id), nameof(Text)])]</code></example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class PublishChangesAttribute : Attribute
{
    /// <summary>Initializes the attribute with the exchange to publish to.</summary>
    /// <param name="exchange">The exchange; <see langword="null"/> for the entity's name in kebab-case.</param>
    public PublishChangesAttribute(string? exchange = null)
    {
        Exchange = exchange;
    }

    /// <summary>Gets the exchange, or <see langword="null"/> for the entity's name in kebab-case.</summary>
    public string? Exchange { get; }

    /// <summary>Gets or sets the properties whose values the event carries; <see langword="null"/> for every mapped property.</summary>
    public string[]? Fields { get; set; }

    /// <summary>Gets or sets the start of the message type names, or <see langword="null"/> for the entity's name in dotted lower case (<c>question</c>).</summary>
    public string? MessageType { get; set; }

    /// <summary>Gets or sets the schema version (0 means 1).</summary>
    public int Version { get; set; }

    /// <summary>Gets or sets the start of the routing keys, or <see langword="null"/> for the message type's.</summary>
    public string? RoutingKey { get; set; }

    /// <summary>Gets or sets whether an update is published when any property changed, not only a selected field (default <see langword="false"/>).</summary>
    public bool OnAnyChange { get; set; }
}
