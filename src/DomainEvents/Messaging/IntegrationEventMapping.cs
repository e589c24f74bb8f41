namespace DomainEvents.Messaging;

/// <summary>
/// Fluent overrides for one integration event's routing, given at registration. Values left
/// <see langword="null"/> fall back to the <see cref="IntegrationEventAttribute"/> and then to the convention.
/// </summary>
public sealed class IntegrationEventMapping
{
    /// <summary>Gets or sets the message type name.</summary>
    public string? MessageType { get; set; }

    /// <summary>Gets or sets the schema version.</summary>
    public int? Version { get; set; }

    /// <summary>Gets or sets the exchange.</summary>
    public string? Exchange { get; set; }

    /// <summary>Gets or sets the routing key.</summary>
    public string? RoutingKey { get; set; }
}
