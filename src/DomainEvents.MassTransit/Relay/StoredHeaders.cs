using System.Text.Json;

namespace DomainEvents.MassTransit.Relay;

/// <summary>The headers stored with an outbox row, read once per send.</summary>
internal readonly record struct StoredHeaders(Guid? CorrelationId, Guid? CausationId, string? TraceParent, string? TraceState, string? Baggage)
{
    public static StoredHeaders Parse(string json)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json));
        Guid? correlation = null, causation = null;
        string? traceParent = null, traceState = null, baggage = null;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            var name = reader.GetString();
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                continue;
            }

            switch (name)
            {
                case "correlation-id" when reader.TryGetGuid(out var c):
                    correlation = c;
                    break;
                case "causation-id" when reader.TryGetGuid(out var c):
                    causation = c;
                    break;
                case "traceparent":
                    traceParent = reader.GetString();
                    break;
                case "tracestate":
                    traceState = reader.GetString();
                    break;
                case "baggage":
                    baggage = reader.GetString();
                    break;
            }
        }

        return new StoredHeaders(correlation, causation, traceParent, traceState, baggage);
    }
}
