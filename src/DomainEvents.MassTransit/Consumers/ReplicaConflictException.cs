using DomainEvents.Errors;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Two copies of a replica's key were applied at once (competing endpoints) and this one lost on the position. Behind
/// the inbox the attempt is run again, like one the database failed: it reads the new position and applies or skips.
/// </summary>
public sealed class ReplicaConflictException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="replica">The replica.</param>
    /// <param name="key">The key.</param>
    /// <param name="innerException">EF Core's error.</param>
    public ReplicaConflictException(string replica, string key, Exception innerException)
        : base($"Another copy of {replica}'s key {key} was applied at the same time; this attempt is run again.", innerException)
    {
        Replica = replica;
        Key = key;
    }

    /// <summary>Gets the replica.</summary>
    public string Replica { get; }

    /// <summary>Gets the key.</summary>
    public string Key { get; }
}
