namespace DomainEvents.Errors;

/// <summary>An exchange, routing key, message type name, partition key or version that a broker or reader would reject.</summary>
public sealed class InvalidRoutingException : DomainEventsException
{
    /// <summary>Initializes the exception for an event type.</summary>
    /// <param name="eventType">The event whose routing is invalid.</param>
    /// <param name="field">Which value: exchange, routing key, message type or partition key.</param>
    /// <param name="value">The rejected value.</param>
    /// <param name="reason">Why it is rejected.</param>
    public InvalidRoutingException(Type eventType, string field, string? value, string reason)
        : base($"The {field} of {eventType.FullName} is invalid: {reason} (value: '{Shorten(value)}').")
    {
        EventType = eventType;
        Field = field;
        Value = value;
    }

    /// <summary>Initializes the exception for a message that has no event type of its own (a change event, or one published by name).</summary>
    /// <param name="messageType">The message type name, as given.</param>
    /// <param name="field">Which value: exchange, routing key, message type or partition key.</param>
    /// <param name="value">The rejected value.</param>
    /// <param name="reason">Why it is rejected.</param>
    public InvalidRoutingException(string? messageType, string field, string? value, string reason)
        : base($"The {field} of the message '{Shorten(messageType)}' is invalid: {reason} (value: '{Shorten(value)}').")
    {
        MessageType = messageType;
        Field = field;
        Value = value;
    }

    /// <summary>Gets the event whose routing is invalid, or <see langword="null"/> for a message published by name.</summary>
    public Type? EventType { get; }

    /// <summary>Gets the message type name of a message published by name, or <see langword="null"/> when <see cref="EventType"/> is set.</summary>
    public string? MessageType { get; }

    /// <summary>Gets which value is invalid: exchange, routing key, message type or partition key.</summary>
    public string Field { get; }

    /// <summary>Gets the rejected value.</summary>
    public string? Value { get; }

    private static string Shorten(string? value) =>
        value is null ? "<null>" : value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 77), "...");
}
