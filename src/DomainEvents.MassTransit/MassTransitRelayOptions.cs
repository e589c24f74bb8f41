namespace DomainEvents.MassTransit;

/// <summary>How the relay publishes through MassTransit.</summary>
public sealed class MassTransitRelayOptions
{
    /// <summary>The exchange type used when none is configured for an exchange (default <c>topic</c>).</summary>
    public const string DefaultExchangeType = "topic";

    /// <summary>Gets or sets the exchange type for exchanges not listed in <see cref="ExchangeTypes"/>: topic, direct or fanout.</summary>
    public string ExchangeType { get; set; } = DefaultExchangeType;

    /// <summary>Gets the exchange type per exchange name, for exchanges that are not topic exchanges.</summary>
    public IDictionary<string, string> ExchangeTypes { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    internal string ExchangeTypeOf(string exchange) => ExchangeTypes.TryGetValue(exchange, out var type) ? type : ExchangeType;

    internal void Validate()
    {
        foreach (var type in ExchangeTypes.Values.Append(ExchangeType))
        {
            if (type is not ("topic" or "direct" or "fanout"))
            {
                throw new ArgumentException($"Exchange type '{type}' is not supported; use topic, direct or fanout.");
            }
        }
    }
}
