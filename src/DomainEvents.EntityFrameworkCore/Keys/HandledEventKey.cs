namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>
/// A keyed event this service has handled: written in the transaction of the save that dispatched it, so a later save
/// that raises the same key skips it. Its key is the table's primary key: of two saves that raise one key at once,
/// one commits and the other fails on the constraint (and skips the key when it is retried).
/// </summary>
public sealed class HandledEventKey
{
    /// <summary>Gets or sets the event's key.</summary>
    public string Key { get; set; } = "";

    /// <summary>Gets or sets the CLR name of the event that first raised it.</summary>
    public string EventType { get; set; } = "";

    /// <summary>Gets or sets when it was handled (UTC).</summary>
    public DateTime HandledAt { get; set; }
}
