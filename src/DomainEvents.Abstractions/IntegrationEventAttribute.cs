namespace DomainEvents;

/// <summary>
/// Overrides the conventional routing of an integration event: message type name, version, exchange and
/// routing key. Anything left unset keeps its convention (message type and routing key from the event
/// name in dotted lower case, exchange from the aggregate name in kebab-case, version 1).
/// </summary>
/// <example><code>[IntegrationEvent("order.placed", Version = 2, Exchange = "orders")]</code></example>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, Inherited = false)]
public sealed class IntegrationEventAttribute : Attribute
{
    /// <summary>Initializes the attribute, keeping the conventional message type name.</summary>
    public IntegrationEventAttribute()
    {
    }

    /// <summary>Initializes the attribute with a stable message type name such as <c>order.placed</c>.</summary>
    /// <param name="messageType">The message type name; stable across CLR renames.</param>
    public IntegrationEventAttribute(string messageType)
    {
        MessageType = messageType;
    }

    /// <summary>Gets the message type name, or <see langword="null"/> for the convention.</summary>
    public string? MessageType { get; }

    /// <summary>Gets or sets the schema version (0 means the convention: 1, or the number of a trailing <c>V2</c> in the type name).</summary>
    public int Version { get; set; }

    /// <summary>Gets or sets the exchange, or <see langword="null"/> for the aggregate's name in kebab-case.</summary>
    public string? Exchange { get; set; }

    /// <summary>Gets or sets the routing key, or <see langword="null"/> for the message type name.</summary>
    public string? RoutingKey { get; set; }
}
