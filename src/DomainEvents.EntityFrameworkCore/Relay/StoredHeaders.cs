using System.Text;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The headers stored with an outbox row (its <c>headers</c> column, <see cref="OutboxEnvelope.Headers"/>), as a
/// transport reads them once per send: <c>StoredHeaders.Parse(envelope.Headers)</c>. Put them on the message in the
/// destination's own form (CloudEvents extensions, AMQP headers).
/// </summary>
/// <param name="CorrelationId">The correlation id of the conversation.</param>
/// <param name="CausationId">The message whose handling raised this one.</param>
/// <param name="TraceParent">The W3C traceparent of the activity that saved the event.</param>
/// <param name="TraceState">The W3C tracestate.</param>
/// <param name="Baggage">The W3C baggage.</param>
/// <param name="Custom">The headers set by header enrichers, or <see langword="null"/> when there are none.</param>
public readonly record struct StoredHeaders(Guid? CorrelationId, Guid? CausationId, string? TraceParent, string? TraceState, string? Baggage, IReadOnlyList<KeyValuePair<string, string>>? Custom = null)
{
    /// <summary>Reads the stored header object; unknown names and values that are not strings are ignored.</summary>
    /// <param name="json">The row's headers column, a JSON object.</param>
    /// <returns>The headers; all empty for an empty or blank text.</returns>
    public static StoredHeaders Parse(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return default;
        }

        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        Guid? correlation = null, causation = null;
        string? traceParent = null, traceState = null, baggage = null;
        List<KeyValuePair<string, string>>? custom = null;
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

            switch (name)
            {
                case OutboxMessageFactory.CorrelationIdHeader when reader.TryGetGuid(out var id):
                    correlation = id;
                    break;
                case OutboxMessageFactory.CausationIdHeader when reader.TryGetGuid(out var id):
                    causation = id;
                    break;
                case "traceparent":
                    traceParent = NullIfEmpty(reader.GetString());
                    break;
                case "tracestate":
                    traceState = NullIfEmpty(reader.GetString());
                    break;
                case "baggage":
                    baggage = NullIfEmpty(reader.GetString());
                    break;
                case var other when OutboxHeaderRules.IsCustomName(other):
                    (custom ??= []).Add(new(other!, reader.GetString()!));
                    break;
            }
        }

        return new StoredHeaders(correlation, causation, traceParent, traceState, baggage, custom);
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
