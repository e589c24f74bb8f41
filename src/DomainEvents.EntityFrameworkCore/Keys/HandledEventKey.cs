namespace DomainEvents.EntityFrameworkCore.Keys;

/// <summary>
/// A key this service has handled, by its in-process handlers (a keyed event) or by a once-per-key consumer: written in
/// the transaction of the effects, so a later event or message with the same key is skipped. Key and handler are the
/// table's primary key: of two transactions that take one key at once, one commits and the other waits (a consumer,
/// then skips) or fails on the constraint (a save, which skips the key when it is done again).
/// </summary>
public sealed class HandledEventKey
{
    /// <summary>The handler of keyed events dispatched in process (all the service's in-process handlers of the event).</summary>
    public const string InProcess = "in-process";

    /// <summary>Gets or sets the key.</summary>
    public string Key { get; set; } = "";

    /// <summary>Gets or sets who handled it: <see cref="InProcess"/>, or the consumer's name.</summary>
    public string Handler { get; set; } = InProcess;

    /// <summary>Gets or sets the event's CLR name or the message type that first brought it.</summary>
    public string EventType { get; set; } = "";

    /// <summary>Gets or sets when it was handled (UTC).</summary>
    public DateTime HandledAt { get; set; }
}
