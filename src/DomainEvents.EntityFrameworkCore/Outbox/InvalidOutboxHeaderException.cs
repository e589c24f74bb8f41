using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>A header enricher set a header whose name or value cannot travel in every envelope. The save fails; nothing is committed.</summary>
public sealed class InvalidOutboxHeaderException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="name">The header name.</param>
    /// <param name="value">The header value.</param>
    /// <param name="reason">Why it is rejected.</param>
    public InvalidOutboxHeaderException(string? name, string? value, string reason)
        : base($"The outbox header '{name}' cannot be stored: {reason}.")
    {
        Name = name;
        Value = value;
    }

    /// <summary>Gets the rejected header name.</summary>
    public string? Name { get; }

    /// <summary>Gets the rejected value.</summary>
    public string? Value { get; }
}
