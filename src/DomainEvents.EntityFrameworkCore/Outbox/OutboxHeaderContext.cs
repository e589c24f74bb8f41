namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>The outbox row an <see cref="IOutboxHeaderEnricher"/> is adding headers to.</summary>
public sealed class OutboxHeaderContext
{
    private List<KeyValuePair<string, string>>? _headers;

    internal OutboxHeaderContext(string messageType, int version, string exchange, string routingKey, string partitionKey)
    {
        MessageType = messageType;
        Version = version;
        Exchange = exchange;
        RoutingKey = routingKey;
        PartitionKey = partitionKey;
    }

    /// <summary>Gets the message type name of the row.</summary>
    public string MessageType { get; }

    /// <summary>Gets the schema version of the row.</summary>
    public int Version { get; }

    /// <summary>Gets the exchange the row will be published to.</summary>
    public string Exchange { get; }

    /// <summary>Gets the routing key the row will be published with.</summary>
    public string RoutingKey { get; }

    /// <summary>Gets the partition key of the row.</summary>
    public string PartitionKey { get; }

    /// <summary>Gets the headers set so far, in the order they were set.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers => (IReadOnlyList<KeyValuePair<string, string>>?)_headers ?? [];

    /// <summary>
    /// Sets a header, replacing one of the same name. Names are 1 to 20 lowercase ASCII letters or digits (what a
    /// CloudEvents extension allows, so the same name is valid in every envelope) and not one the library writes itself;
    /// values are at most 1,000 characters without control characters.
    /// </summary>
    /// <param name="name">The header name, such as <c>tenant</c>.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="InvalidOutboxHeaderException">The name or the value breaks these rules; the save fails and nothing is committed.</exception>
    public void Set(string name, string value)
    {
        OutboxHeaderRules.Validate(name, value);
        _headers ??= [];
        var index = _headers.FindIndex(h => h.Key == name);
        if (index >= 0)
        {
            _headers[index] = new(name, value);
        }
        else
        {
            _headers.Add(new(name, value));
        }
    }

    internal List<KeyValuePair<string, string>>? TakeHeaders() => _headers;
}
