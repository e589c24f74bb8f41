namespace DomainEvents.EntityFrameworkCore;

/// <summary>What a host declares on its broker, for the <c>topology</c> command: registered by the transport package.</summary>
internal interface IBrokerTopology
{
    /// <summary>The exchanges the host publishes to or binds, and the queues it consumes with their bindings.</summary>
    BrokerTopologyDescription Describe();
}

/// <summary>A host's exchanges and queues.</summary>
internal sealed record BrokerTopologyDescription(IReadOnlyList<TopologyExchange> Exchanges, IReadOnlyList<TopologyQueue> Queues);

/// <summary>An exchange, and why the host has it (published by the relay, bound by a consumer).</summary>
internal sealed record TopologyExchange(string Name, string Type, string Use);

/// <summary>A consumer's queue and its bindings.</summary>
internal sealed record TopologyQueue(string Name, string Consumer, IReadOnlyList<TopologyBinding> Bindings, bool KeepOrder, bool Inbox);

/// <summary>A binding of a queue to an exchange with a routing-key pattern.</summary>
internal sealed record TopologyBinding(string Exchange, string Pattern);
