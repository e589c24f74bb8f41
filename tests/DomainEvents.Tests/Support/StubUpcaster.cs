using System.Text.Json.Nodes;
using DomainEvents.Messaging;

namespace DomainEvents.Tests.Support;

/// <summary>An upcaster that returns the payload unchanged; only its registration is under test.</summary>
public sealed record StubUpcaster(string MessageType, int FromVersion, int ToVersion) : IMessageUpcaster
{
    public JsonNode Upcast(JsonNode payload) => payload;
}
