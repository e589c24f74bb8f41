namespace DomainEvents.EntityFrameworkCore;

/// <summary>
/// What a host declares on its broker, for the <c>topology</c> command. A transport package registers one (the MassTransit
/// package does with <c>AddMassTransitRelay</c> and <c>AddIntegrationEventConsumer</c>); a transport of your own can too.
/// </summary>
public interface IBrokerTopology
{
    /// <summary>The exchanges the host publishes to or binds, and the queues it consumes with their bindings.</summary>
    /// <returns>The host's topology as its code and configuration declare it.</returns>
    BrokerTopologyDescription Describe();

    /// <summary>
    /// Declares the exchanges, queues and bindings of <see cref="Describe"/> on the broker and consumes nothing. The
    /// host's role says <see cref="HostRole.DeploysTopologyOnly"/> before this is called, and before the transport is
    /// first set up.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the broker.</param>
    /// <returns>A task that completes once everything is declared.</returns>
    /// <exception cref="TopologyNotAppliedException">The topology cannot be applied from this host (not a broker outage).</exception>
    Task ApplyAsync(CancellationToken cancellationToken);
}

/// <summary>A host's exchanges and queues.</summary>
/// <param name="Exchanges">The exchanges, by name.</param>
/// <param name="Queues">The consumers' queues.</param>
public sealed record BrokerTopologyDescription(IReadOnlyList<TopologyExchange> Exchanges, IReadOnlyList<TopologyQueue> Queues);

/// <summary>An exchange, and why the host has it.</summary>
/// <param name="Name">The exchange's name.</param>
/// <param name="Type">The exchange type (<c>topic</c>, <c>direct</c>, <c>fanout</c>).</param>
/// <param name="Use">Why the host has it, in words: published by the relay, bound by a consumer.</param>
public sealed record TopologyExchange(string Name, string Type, string Use);

/// <summary>A consumer's queue and its bindings.</summary>
/// <param name="Name">The queue's name.</param>
/// <param name="Consumer">The consumer's name.</param>
/// <param name="Bindings">The exchanges and routing-key patterns the queue is bound with.</param>
/// <param name="KeepOrder">Whether the consumer keeps order per key.</param>
/// <param name="Inbox">Whether the consumer has an inbox.</param>
public sealed record TopologyQueue(string Name, string Consumer, IReadOnlyList<TopologyBinding> Bindings, bool KeepOrder, bool Inbox);

/// <summary>A binding of a queue to an exchange with a routing-key pattern.</summary>
/// <param name="Exchange">The exchange.</param>
/// <param name="Pattern">The routing-key pattern.</param>
public sealed record TopologyBinding(string Exchange, string Pattern);

/// <summary>
/// The topology cannot be applied from this host: its transport cannot be built, is not a broker with a topology, or
/// would consume. Not a broker outage.
/// </summary>
/// <param name="message">What stands in the way.</param>
/// <param name="innerException">The error behind it, if any.</param>
public sealed class TopologyNotAppliedException(string message, Exception? innerException = null) : Exception(message, innerException);
