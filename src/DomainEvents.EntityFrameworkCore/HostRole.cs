namespace DomainEvents.EntityFrameworkCore;

/// <summary>
/// What this process runs, when a command (<c>relay</c>, <c>consume</c>) narrows it before the host starts: the relay
/// command turns the consumers' receive endpoints off, so the bus it needs to publish consumes nothing.
/// </summary>
internal sealed class HostRole
{
    private int _consulted;

    /// <summary>Gets or sets whether the integration event consumers' endpoints are configured on the bus.</summary>
    public bool RunsConsumers { get; set; } = true;

    /// <summary>
    /// Gets or sets whether the consumers' endpoints only declare their topology (queues, exchanges, bindings) when the bus
    /// starts, and consume nothing: the <c>topology --apply</c> command.
    /// </summary>
    public bool DeploysTopologyOnly { get; set; }

    /// <summary>Gets whether the bus has been configured already, so that a change of role comes too late.</summary>
    public bool Consulted => Volatile.Read(ref _consulted) == 1;

    /// <summary>Read by the bus configuration: from now on the role is fixed.</summary>
    public bool ConsumersToConfigure()
    {
        Volatile.Write(ref _consulted, 1);
        return RunsConsumers;
    }
}

/// <summary>A DbContext that holds an inbox, registered by the consumers that use it (for the inbox commands).</summary>
/// <param name="Type">The DbContext type.</param>
internal sealed record InboxContext(Type Type);
