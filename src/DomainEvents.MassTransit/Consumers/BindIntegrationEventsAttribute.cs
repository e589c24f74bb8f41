namespace DomainEvents.MassTransit.Consumers;

/// <summary>Binds a MassTransit consumer's queue to an exchange with routing-key patterns; read by <c>AddIntegrationEventConsumer</c>.</summary>
/// <example><code>[BindIntegrationEvents("order", "order.*")]</code></example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class BindIntegrationEventsAttribute : Attribute
{
    /// <summary>Initializes the attribute.</summary>
    /// <param name="exchange">The exchange.</param>
    /// <param name="routingKeyPatterns">One or more routing-key patterns.</param>
    public BindIntegrationEventsAttribute(string exchange, params string[] routingKeyPatterns)
    {
        Exchange = exchange;
        RoutingKeyPatterns = routingKeyPatterns;
    }

    /// <summary>Gets the exchange.</summary>
    public string Exchange { get; }

    /// <summary>Gets the routing-key patterns.</summary>
    public IReadOnlyList<string> RoutingKeyPatterns { get; }
}
