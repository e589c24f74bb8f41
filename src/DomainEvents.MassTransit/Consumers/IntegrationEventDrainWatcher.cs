using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Draining;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.Messaging;
using DomainEvents.MassTransit.Relay;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Records which integration event endpoints of this host handled which message ids, for
/// <see cref="OutboxDrainUntil.Consumed"/>. Registered by <c>AddIntegrationEventDrain()</c>, meant for test hosts: it
/// remembers every message id it sees for the life of the host.
/// </summary>
internal sealed class IntegrationEventDrainWatcher(MassTransitRelayOptions? relay = null) : IOutboxConsumptionWatcher
{
    private readonly ConcurrentDictionary<(string Queue, Guid MessageId), string?> _outcomes = new();
    private readonly ConcurrentDictionary<string, Endpoint> _endpoints = new(StringComparer.Ordinal);

    /// <summary>Called for each endpoint that <c>ConfigureIntegrationEventEndpoints</c> creates.</summary>
    /// <param name="queue">The endpoint's queue.</param>
    /// <param name="consumer">The consumer's or handler's name.</param>
    /// <param name="messageTypes">The types the endpoint handles, or <see langword="null"/> for every type but the ignored ones.</param>
    /// <param name="ignored">The types it acknowledges without handling.</param>
    /// <param name="bindings">Its bindings.</param>
    /// <param name="exchangeType">The type of the bound exchanges.</param>
    public void Watch(string queue, string consumer, IEnumerable<string>? messageTypes, IReadOnlySet<string> ignored, IReadOnlyList<(string Exchange, string Pattern)> bindings, string exchangeType) =>
        _endpoints[queue] = new Endpoint(queue, consumer, messageTypes?.ToHashSet(StringComparer.Ordinal), ignored, bindings, exchangeType);

    /// <summary>The consumer handled the message, and its inbox transaction (if any) committed.</summary>
    public void Handled(string queue, Guid messageId) => _outcomes[(queue, messageId)] = null;

    /// <summary>The consumer threw; a later success (a redelivery) wins.</summary>
    public void Failed(string queue, Guid messageId, Exception error) =>
        _outcomes.AddOrUpdate((queue, messageId), $"{error.GetType().Name}: {error.Message}", (_, previous) => previous is null ? null : $"{error.GetType().Name}: {error.Message}");

    public IReadOnlyList<string> NotYetHandledBy(OutboxMessage row)
    {
        ArgumentNullException.ThrowIfNull(row);

        // The routing key on the wire: the relay of this host may add the version to it.
        var routingKey = relay?.RoutingKeyIncludesVersion(row.MessageType, row.Exchange) == true
            ? OutgoingMessageWriter.WithVersion(row.RoutingKey, row.Version)
            : row.RoutingKey;
        var waiting = new List<string>();
        foreach (var endpoint in _endpoints.Values)
        {
            if (!(endpoint.MessageTypes?.Contains(row.MessageType) ?? !endpoint.Ignored.Contains(row.MessageType)) || !endpoint.Bindings.Any(b => Binds(endpoint.ExchangeType, b.Exchange, b.Pattern, row.Exchange, routingKey)))
            {
                continue;
            }

            if (!_outcomes.TryGetValue((endpoint.Queue, row.MessageId), out var error))
            {
                waiting.Add($"{endpoint.Consumer} (queue {endpoint.Queue})");
            }
            else if (error is not null)
            {
                waiting.Add($"{endpoint.Consumer} (queue {endpoint.Queue}), which failed: {error}");
            }
        }

        return waiting;
    }

    private static bool Binds(string exchangeType, string exchange, string pattern, string rowExchange, string routingKey) =>
        string.Equals(exchange, rowExchange, StringComparison.Ordinal) && exchangeType switch
        {
            "fanout" => true,
            "direct" => string.Equals(pattern, routingKey, StringComparison.Ordinal),
            _ => TopicPattern.Parse(pattern).IsMatch(routingKey),
        };

    private sealed record Endpoint(string Queue, string Consumer, IReadOnlySet<string>? MessageTypes, IReadOnlySet<string> Ignored, IReadOnlyList<(string Exchange, string Pattern)> Bindings, string ExchangeType);
}
