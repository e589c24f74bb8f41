namespace DomainEvents.EntityFrameworkCore.Replicas;

/// <summary>
/// How far a replica has applied the messages of one key: a message at or before this position is old and skipped. It
/// outlives a deleted entity, so an old message redelivered after the deletion cannot bring the entity back.
/// </summary>
public sealed class ReplicaPosition
{
    /// <summary>Gets or sets the replica's name (by default its consumer's type name).</summary>
    public string Replica { get; set; } = "";

    /// <summary>Gets or sets the key of the entity, as text.</summary>
    public string Key { get; set; } = "";

    /// <summary>Gets or sets the position of the last applied message (by default the ticks of its occurred-at).</summary>
    public long Position { get; set; }

    /// <summary>Gets or sets whether the last applied message deleted the entity.</summary>
    public bool Deleted { get; set; }

    /// <summary>Gets or sets when the last message was applied (UTC).</summary>
    public DateTime AppliedAt { get; set; }
}
