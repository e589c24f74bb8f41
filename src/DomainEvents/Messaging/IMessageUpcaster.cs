using System.Text.Json.Nodes;

namespace DomainEvents.Messaging;

/// <summary>
/// Turns the JSON payload of one version of a message type into the next version, so that a consumer
/// written for the newer version also receives messages still in flight in the older one.
/// </summary>
public interface IMessageUpcaster
{
    /// <summary>Gets the message type name this upcaster applies to.</summary>
    string MessageType { get; }

    /// <summary>Gets the version it reads.</summary>
    int FromVersion { get; }

    /// <summary>Gets the version it produces (usually <see cref="FromVersion"/> + 1).</summary>
    int ToVersion { get; }

    /// <summary>Converts a payload.</summary>
    /// <param name="payload">The payload in <see cref="FromVersion"/>.</param>
    /// <returns>The payload in <see cref="ToVersion"/>.</returns>
    JsonNode Upcast(JsonNode payload);
}
