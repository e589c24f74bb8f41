using System.Text.Json;

namespace DomainEvents.MassTransit;

/// <summary>
/// An integration event handed to a handler as its JSON payload, whatever its type: what
/// <c>AddIntegrationEventHandler(name, handler)</c> receives. Its message type, version, exchange and routing key are
/// in <c>context.GetIntegrationEventEnvelope()</c>; the payload is as sent, not upcast.
/// </summary>
public sealed class IntegrationEventJson
{
    internal IntegrationEventJson(JsonElement payload) => Payload = payload;

    /// <summary>Gets the payload as sent.</summary>
    public JsonElement Payload { get; }
}
