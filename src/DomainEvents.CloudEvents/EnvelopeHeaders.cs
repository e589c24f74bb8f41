using System.Text;
using System.Text.Json;

namespace DomainEvents.CloudEvents;

/// <summary>The headers stored with an outbox row that become CloudEvents extensions.</summary>
/// <param name="CorrelationId">The correlation id.</param>
/// <param name="CausationId">The causation id.</param>
/// <param name="TraceParent">The W3C traceparent of the activity that saved the event.</param>
/// <param name="TraceState">The W3C tracestate.</param>
internal readonly record struct EnvelopeHeaders(string? CorrelationId, string? CausationId, string? TraceParent, string? TraceState)
{
    /// <summary>Reads the stored header object; unknown names and values that are not strings are ignored.</summary>
    /// <param name="json">The headers column.</param>
    /// <returns>The headers that were found.</returns>
    public static EnvelopeHeaders Parse(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return default;
        }

        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        string? correlation = null, causation = null, traceParent = null, traceState = null;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
            {
                continue;
            }

            var name = reader.GetString();
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                reader.Skip();
                continue;
            }

            var value = reader.GetString();
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            switch (name)
            {
                case "correlation-id":
                    correlation = value;
                    break;
                case "causation-id":
                    causation = value;
                    break;
                case "traceparent":
                    traceParent = value;
                    break;
                case "tracestate":
                    traceState = value;
                    break;
            }
        }

        return new EnvelopeHeaders(correlation, causation, traceParent, traceState);
    }
}
