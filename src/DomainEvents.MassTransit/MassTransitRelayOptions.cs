using DomainEvents.CloudEvents;

namespace DomainEvents.MassTransit;

/// <summary>How the relay publishes through MassTransit: exchange types, envelopes and versioned routing keys.</summary>
/// <remarks>
/// Envelope and routing-key choices are made when a row is sent, not when it is saved, so they can change without
/// touching stored rows. For each row the most specific setting wins: its message type, then its exchange, then
/// the default.
/// </remarks>
public sealed class MassTransitRelayOptions
{
    /// <summary>The exchange type used when none is configured for an exchange (default <c>topic</c>).</summary>
    public const string DefaultExchangeType = "topic";

    /// <summary>The envelope used when none is configured for a row's message type or exchange (default <see cref="MessageEnvelope.MassTransit"/>).</summary>
    public const MessageEnvelope DefaultEnvelope = MessageEnvelope.MassTransit;

    /// <summary>Gets or sets the exchange type for exchanges not listed in <see cref="ExchangeTypes"/>: topic, direct or fanout.</summary>
    public string ExchangeType { get; set; } = DefaultExchangeType;

    /// <summary>Gets the exchange type per exchange name, for exchanges that are not topic exchanges.</summary>
    public IDictionary<string, string> ExchangeTypes { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Gets or sets the envelope for rows whose message type and exchange have none configured.</summary>
    public MessageEnvelope Envelope { get; set; } = DefaultEnvelope;

    /// <summary>Gets the envelope per exchange name, for every row sent to that exchange.</summary>
    public IDictionary<string, MessageEnvelope> EnvelopeByExchange { get; } = new Dictionary<string, MessageEnvelope>(StringComparer.Ordinal);

    /// <summary>Gets the envelope per message type name (such as <c>order.placed</c>); it wins over <see cref="EnvelopeByExchange"/>.</summary>
    public IDictionary<string, MessageEnvelope> EnvelopeByMessageType { get; } = new Dictionary<string, MessageEnvelope>(StringComparer.Ordinal);

    /// <summary>
    /// Gets or sets whether every routing key ends with the row's version, <c>order.placed</c> becoming
    /// <c>order.placed.v1</c> or <c>order.placed.v2</c> (default <see langword="false"/>), so queues can be bound to one
    /// version. Bind with <c>order.placed.#</c> to receive every version with or without the suffix.
    /// </summary>
    public bool VersionInRoutingKey { get; set; }

    /// <summary>Gets the exchanges whose routing keys end with the version, as <see cref="VersionInRoutingKey"/> does for all.</summary>
    public ISet<string> VersionedRoutingKeyExchanges { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Gets the message types whose routing keys end with the version, as <see cref="VersionInRoutingKey"/> does for all.</summary>
    public ISet<string> VersionedRoutingKeyMessageTypes { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Gets how rows become CloudEvents in the <see cref="MessageEnvelope.CloudEventsStructured"/> and
    /// <see cref="MessageEnvelope.CloudEventsBinary"/> envelopes: the <c>source</c> (default from the environment
    /// variable <c>K_SOURCE</c>) and whether the <c>type</c> ends with the version. Its HTTP sink settings play no part here.
    /// </summary>
    public CloudEventsOptions CloudEvents { get; } = new();

    internal bool UsesCloudEvents =>
        EnvelopeByExchange.Values.Concat(EnvelopeByMessageType.Values).Append(Envelope)
            .Any(e => e is MessageEnvelope.CloudEventsStructured or MessageEnvelope.CloudEventsBinary);

    internal string ExchangeTypeOf(string exchange) => ExchangeTypes.TryGetValue(exchange, out var type) ? type : ExchangeType;

    internal MessageEnvelope EnvelopeOf(string messageType, string exchange) =>
        EnvelopeByMessageType.TryGetValue(messageType, out var byType) ? byType
        : EnvelopeByExchange.TryGetValue(exchange, out var byExchange) ? byExchange
        : Envelope;

    internal bool RoutingKeyIncludesVersion(string messageType, string exchange) =>
        VersionInRoutingKey || VersionedRoutingKeyMessageTypes.Contains(messageType) || VersionedRoutingKeyExchanges.Contains(exchange);

    internal void Validate()
    {
        foreach (var type in ExchangeTypes.Values.Append(ExchangeType))
        {
            if (!SupportedExchangeTypes.IsSupported(type))
            {
                throw new ArgumentException($"Exchange type '{type}' is not supported; use {SupportedExchangeTypes.Supported}.");
            }
        }

        foreach (var envelope in EnvelopeByExchange.Values.Concat(EnvelopeByMessageType.Values).Append(Envelope))
        {
            if (!Enum.IsDefined(envelope))
            {
                throw new ArgumentException($"Envelope '{envelope}' is not one of {string.Join(", ", Enum.GetNames<MessageEnvelope>())}.");
            }
        }

        if (UsesCloudEvents)
        {
            CloudEvents.Validate();
        }
    }
}
