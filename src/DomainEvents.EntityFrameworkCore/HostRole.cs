namespace DomainEvents.EntityFrameworkCore;

/// <summary>
/// What this process runs, when a command (<c>relay</c>, <c>consume</c>) narrows it before the host starts: the relay
/// command turns the consumers' receive endpoints off, so the bus it needs to publish consumes nothing.
/// </summary>
internal sealed class HostRole
{
    /// <summary>Gets or sets whether the integration event consumers' endpoints are configured on the bus.</summary>
    public bool RunsConsumers { get; set; } = true;
}
