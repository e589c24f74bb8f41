namespace DomainEvents.Errors;

/// <summary>Two CLR types claim the same message type name and version.</summary>
public sealed class DuplicateMessageTypeException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="messageType">The message type name.</param>
    /// <param name="version">The version.</param>
    /// <param name="existing">The type registered first.</param>
    /// <param name="duplicate">The type that claims the same name and version.</param>
    public DuplicateMessageTypeException(string messageType, int version, Type existing, Type duplicate)
        : base($"Message type '{messageType}' version {version} is claimed by both {existing.FullName} and {duplicate.FullName}. " +
               "Give one of them another name or version with [IntegrationEvent(...)] or at registration.")
    {
        MessageType = messageType;
        Version = version;
        ExistingType = existing;
        DuplicateType = duplicate;
    }

    /// <summary>Gets the message type name.</summary>
    public string MessageType { get; }

    /// <summary>Gets the version.</summary>
    public int Version { get; }

    /// <summary>Gets the type registered first.</summary>
    public Type ExistingType { get; }

    /// <summary>Gets the type that claims the same name and version.</summary>
    public Type DuplicateType { get; }
}
