using System.Diagnostics;

namespace DomainEvents.Messaging;

/// <summary>
/// The ActivitySource of DomainEvents. Listen with OpenTelemetry's <c>AddSource(DomainEventsTracing.SourceName)</c>:
/// spans for each in-process handler, the outbox write, each publish (a producer span whose parent is the saving
/// transaction's trace, stored with the row), each consume and the inbox check.
/// </summary>
public static class DomainEventsTracing
{
    /// <summary>The ActivitySource's name: <c>DomainEvents</c>.</summary>
    public const string SourceName = "DomainEvents";

    /// <summary>Gets the source; every package of DomainEvents, and a transport or an outbox of its own, starts its spans on it. Do not dispose it.</summary>
    public static ActivitySource Source { get; } = new(SourceName, typeof(DomainEventsTracing).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// Gets the relay's publish span while a transport sends a row with tracing on: the span a receiver of the message
    /// continues from. A transport writes its id as the message's <c>traceparent</c> (and its trace state), and the
    /// row's stored trace context when this is <see langword="null"/>.
    /// </summary>
    public static Activity? CurrentPublish =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C, Kind: ActivityKind.Producer } current && current.Source == Source ? current : null;

    /// <summary>Adds the items of a W3C <c>baggage</c> header (<c>key=value,key=value;property</c>) to a span.</summary>
    /// <param name="activity">The span.</param>
    /// <param name="header">The header's value; <see langword="null"/> adds nothing.</param>
    public static void AddBaggage(Activity activity, string? header)
    {
        if (header is null)
        {
            return;
        }

        foreach (var item in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                activity.AddBaggage(Uri.UnescapeDataString(item[..equals].Trim()), Uri.UnescapeDataString(item[(equals + 1)..].Split(';')[0].Trim()));
            }
        }
    }
}
