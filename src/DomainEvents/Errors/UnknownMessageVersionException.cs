namespace DomainEvents.Errors;

/// <summary>A message has a known type but a version that no registered event type or upcaster handles.</summary>
public sealed class UnknownMessageVersionException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <param name="version">The version that was received.</param>
    /// <param name="known">The versions that are registered.</param>
    public UnknownMessageVersionException(string messageType, int version, IReadOnlyList<int> known)
        : base($"Message type '{messageType}' version {version} is not known here (known versions: {string.Join(", ", known)}). " +
               "Deploy consumers that know the new version before producers send it.")
    {
        MessageType = messageType;
        Version = version;
        KnownVersions = known;
    }

    /// <summary>Gets the message type name.</summary>
    public string MessageType { get; }

    /// <summary>Gets the version that was received.</summary>
    public int Version { get; }

    /// <summary>Gets the versions that are registered.</summary>
    public IReadOnlyList<int> KnownVersions { get; }
}
