namespace DomainEvents.Errors;

/// <summary>An exchange, routing key or message type name that a broker would reject.</summary>
public sealed class InvalidRoutingException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
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

    /// <summary>Gets the event whose routing is invalid.</summary>
    public Type EventType { get; }

    /// <summary>Gets which value is invalid: exchange, routing key, message type or partition key.</summary>
    public string Field { get; }

    /// <summary>Gets the rejected value.</summary>
    public string? Value { get; }

    private static string Shorten(string? value) =>
        value is null ? "<null>" : value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 77), "...");
}
