using System.Net.Mime;

namespace DomainEvents.MassTransit.Relay;

/// <summary>One outbox row as it goes on the wire: routing key, content type, body and headers.</summary>
/// <param name="RoutingKey">The routing key, with the version suffix where configured.</param>
/// <param name="Envelope">The envelope the body is in.</param>
/// <param name="ContentType">The AMQP content type.</param>
/// <param name="Body">The body.</param>
/// <param name="Headers">The AMQP headers (application properties).</param>
internal sealed record OutgoingMessage(string RoutingKey, MessageEnvelope Envelope, ContentType ContentType, byte[] Body, IReadOnlyList<KeyValuePair<string, string>> Headers);
