namespace DomainEvents.CloudEvents;

/// <summary>
/// One event in binary content mode, for a protocol binding that is not HTTP (the AMQP writer, say): the data
/// bytes as the message body, the data content type as the message's content type, and every other attribute as
/// a name and its canonical string form, to be written with the binding's prefix (<c>cloudEvents:</c> in AMQP).
/// </summary>
/// <param name="Data">The event data: the payload JSON.</param>
/// <param name="ContentType">The data content type, <c>application/json</c>.</param>
/// <param name="Attributes">The attributes (specversion first) other than datacontenttype, as name and formatted value.</param>
public sealed record CloudEventBinaryMessage(
    ReadOnlyMemory<byte> Data,
    string ContentType,
    IReadOnlyList<KeyValuePair<string, string>> Attributes);
