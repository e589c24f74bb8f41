namespace DomainEvents.EntityFrameworkCore;

/// <summary>What a host declares on its broker, for the <c>topology</c> command: registered by the transport package.</summary>
internal interface IBrokerTopology
{
    /// <summary>The exchanges the host publishes to or binds, and the queues it consumes with their bindings.</summary>
    BrokerTopologyDescription Describe();

    /// <summary>
    /// Declares the exchanges, queues and bindings of <see cref="Describe"/> on the broker and consumes nothing. The
    /// host's role must say <see cref="HostRole.DeploysTopologyOnly"/> before the bus is first resolved.
    /// </summary>
    Task ApplyAsync(CancellationToken cancellationToken);
}

/// <summary>A host's exchanges and queues.</summary>
internal sealed record BrokerTopologyDescription(IReadOnlyList<TopologyExchange> Exchanges, IReadOnlyList<TopologyQueue> Queues);

/// <summary>An exchange, and why the host has it (published by the relay, bound by a consumer).</summary>
internal sealed record TopologyExchange(string Name, string Type, string Use);

/// <summary>A consumer's queue and its bindings.</summary>
internal sealed record TopologyQueue(string Name, string Consumer, IReadOnlyList<TopologyBinding> Bindings, bool KeepOrder, bool Inbox);

/// <summary>A binding of a queue to an exchange with a routing-key pattern.</summary>
internal sealed record TopologyBinding(string Exchange, string Pattern);

/// <summary>The topology cannot be applied from this host (its bus cannot be built, is not RabbitMQ, or would consume): not a broker outage.</summary>
internal sealed class TopologyNotAppliedException(string message, Exception? innerException = null) : Exception(message, innerException);
