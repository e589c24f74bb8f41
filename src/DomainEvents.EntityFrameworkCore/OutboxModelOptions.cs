namespace DomainEvents.EntityFrameworkCore;

/// <summary>Table names for the outbox and inbox in your model.</summary>
public sealed class OutboxModelOptions
{
    /// <summary>Default outbox table name.</summary>
    public const string DefaultOutboxTable = "outbox_messages";

    /// <summary>Default inbox table name.</summary>
    public const string DefaultInboxTable = "inbox_messages";

    /// <summary>Gets or sets the schema, or <see langword="null"/> for the model's default schema.</summary>
    public string? Schema { get; set; }

    /// <summary>Gets or sets the outbox table name.</summary>
    public string OutboxTable { get; set; } = DefaultOutboxTable;

    /// <summary>Gets or sets the inbox table name.</summary>
    public string InboxTable { get; set; } = DefaultInboxTable;
}
