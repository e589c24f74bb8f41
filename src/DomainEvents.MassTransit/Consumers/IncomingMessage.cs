using System.Text.Json.Nodes;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// What the receive filter worked out from a message, whatever its envelope: the type as sent, the version if the
/// message stated one, the id, the payload and the metadata.
/// </summary>
internal sealed class IncomingMessage
{
    /// <summary>The version of a message whose version header or attribute is not a positive integer.</summary>
    public const int InvalidVersion = -1;

    public required MessageEnvelope Envelope { get; init; }

    /// <summary>Gets the type as sent; it may still carry a <c>.vN</c> suffix.</summary>
    public required string TypeName { get; init; }

    /// <summary>Gets the version the message states, <see cref="InvalidVersion"/>, or <see langword="null"/> when it states none.</summary>
    public int? Version { get; init; }

    public Guid? MessageId { get; init; }

    /// <summary>The inbox's key where it is not <see cref="MessageId"/>: a CloudEvent's (source, id).</summary>
    public Guid? InboxKey { get; init; }

    /// <summary>Gets a function that reads the payload; it throws what the JSON parser throws.</summary>
    public required Func<JsonNode> ReadPayload { get; init; }

    public string? Exchange { get; init; }

    public string? RoutingKey { get; init; }

    public string? PartitionKey { get; init; }

    public DateTime? OccurredAt { get; init; }

    public Guid? CorrelationId { get; init; }

    public Guid? CausationId { get; init; }

    /// <summary>Gets the headers of the producer's header enrichers, or <see langword="null"/> when there are none.</summary>
    public Dictionary<string, string>? Headers { get; init; }

    public string? Source { get; init; }

    public string? Subject { get; init; }
}
