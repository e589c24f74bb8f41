namespace DomainEvents.EntityFrameworkCore;

/// <summary>
/// What this process runs, when a command narrows it before the host starts: <c>relay</c> turns the consumers' receive
/// endpoints off, so the bus it needs to publish consumes nothing; <c>topology --apply</c> has them declare their
/// topology only. One per host (a singleton, registered by the transport package). A transport of your own reads it
/// with <see cref="ConsumersToConfigure"/> when it sets up its consumers.
/// </summary>
public sealed class HostRole
{
    private int _consulted;

    /// <summary>Gets or sets whether the integration event consumers' endpoints are configured on the bus.</summary>
    public bool RunsConsumers { get; set; } = true;

    /// <summary>
    /// Gets or sets whether the consumers' endpoints only declare their topology (queues, exchanges, bindings) when the bus
    /// starts, and consume nothing: the <c>topology --apply</c> command.
    /// </summary>
    public bool DeploysTopologyOnly { get; set; }

    /// <summary>
    /// Gets the names of the integration event consumers to run (compared ignoring case), as <c>consume --consumer NAME</c>
    /// gives them; empty for all. The others' endpoints are not configured: their queues, once declared, keep their
    /// messages for a process that runs them.
    /// </summary>
    public ISet<string> OnlyConsumers { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Gets whether the bus has been configured already, so that a change of role comes too late.</summary>
    public bool Consulted => Volatile.Read(ref _consulted) == 1;

    /// <summary>Read by the transport when it configures its consumers: from then on the role is fixed.</summary>
    /// <returns>Whether the consumers are to be configured at all (<see cref="RunsConsumers"/>).</returns>
    public bool ConsumersToConfigure()
    {
        Volatile.Write(ref _consulted, 1);
        return RunsConsumers;
    }

    /// <summary>Whether the consumer named <paramref name="name"/> is to be configured: consumers run, and it is one of <see cref="OnlyConsumers"/> or they are all.</summary>
    /// <param name="name">The consumer's name.</param>
    /// <returns><see langword="true"/> when the transport configures its endpoint.</returns>
    public bool RunsConsumer(string name) => RunsConsumers && (OnlyConsumers.Count == 0 || OnlyConsumers.Contains(name));
}

/// <summary>
/// A DbContext that holds an inbox, registered (as a singleton) by the consumers that use it, for what looks at every
/// inbox of the host (the inbox commands).
/// </summary>
/// <param name="Type">The DbContext type.</param>
public sealed record InboxContext(Type Type);
