namespace DomainEvents.MassTransit;

/// <summary>The names of the envelopes in the <c>de-envelope</c> header and in logs.</summary>
internal static class MessageEnvelopeNames
{
    public const string MassTransit = "masstransit";
    public const string PlainJson = "plain-json";
    public const string CloudEventsStructured = "cloudevents-structured";
    public const string CloudEventsBinary = "cloudevents-binary";

    public static string NameOf(MessageEnvelope envelope) => envelope switch
    {
        MessageEnvelope.MassTransit => MassTransit,
        MessageEnvelope.PlainJson => PlainJson,
        MessageEnvelope.CloudEventsStructured => CloudEventsStructured,
        MessageEnvelope.CloudEventsBinary => CloudEventsBinary,
        _ => throw new ArgumentOutOfRangeException(nameof(envelope), envelope, null),
    };

    public static bool TryParse(string? name, out MessageEnvelope envelope)
    {
        switch (name)
        {
            case MassTransit:
                envelope = MessageEnvelope.MassTransit;
                return true;
            case PlainJson:
                envelope = MessageEnvelope.PlainJson;
                return true;
            case CloudEventsStructured:
                envelope = MessageEnvelope.CloudEventsStructured;
                return true;
            case CloudEventsBinary:
                envelope = MessageEnvelope.CloudEventsBinary;
                return true;
            default:
                envelope = default;
                return false;
        }
    }
}
