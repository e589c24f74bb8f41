namespace DomainEvents.EntityFrameworkCore.Inbox;

/// <summary>A message a consumer has handled, recorded in the consumer's own transaction so that a redelivery is skipped.</summary>
public sealed class InboxMessage
{
    /// <summary>Gets or sets the id of the handled message.</summary>
    public Guid MessageId { get; set; }

    /// <summary>Gets or sets the name of the consumer that handled it.</summary>
    public string Consumer { get; set; } = "";

    /// <summary>Gets or sets the message type name.</summary>
    public string? MessageType { get; set; }

    /// <summary>Gets or sets when it was handled (UTC).</summary>
    public DateTime ProcessedAt { get; set; }
}
