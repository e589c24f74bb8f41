using System.Text;
using DomainEvents.Errors;

namespace DomainEvents.Messaging;

/// <summary>
/// Checks exchanges, routing keys and names against what AMQP 0-9-1 brokers accept. The outbox calls it for every row it
/// writes, so that a name the broker would refuse is an <see cref="InvalidRoutingException"/> in the save, not a dead
/// row later.
/// </summary>
public static class RoutingValidator
{
    /// <summary>The longest short string AMQP allows, in UTF-8 bytes.</summary>
    public const int MaxShortStringBytes = 255;

    /// <summary>Checks an exchange name: not empty, at most 255 bytes, letters, digits, '-', '_', '.' or ':', not 'amq.'.</summary>
    /// <param name="owner">The event type or message type the exchange is for, named in the error.</param>
    /// <param name="exchange">The exchange.</param>
    /// <exception cref="InvalidRoutingException">The name is not one a broker accepts.</exception>
    public static void ValidateExchange(RoutingOwner owner, string? exchange)
    {
        if (string.IsNullOrEmpty(exchange))
        {
            throw owner.Invalid("exchange", exchange, "an integration event needs a named exchange; the default exchange cannot be bound by routing-key pattern");
        }

        CheckLength(owner, "exchange", exchange);
        foreach (var c in exchange)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                throw owner.Invalid("exchange", exchange, $"the character '{c}' is not allowed; use letters, digits, '-', '_', '.' or ':'");
            }
        }

        if (exchange.StartsWith("amq.", StringComparison.Ordinal))
        {
            throw owner.Invalid("exchange", exchange, "names starting with 'amq.' are reserved by the broker");
        }
    }

    /// <summary>Checks a routing key: present (it may be empty) and at most 255 bytes.</summary>
    /// <param name="owner">The event type or message type the key is for, named in the error.</param>
    /// <param name="routingKey">The routing key.</param>
    /// <exception cref="InvalidRoutingException">The key is missing or too long.</exception>
    public static void ValidateRoutingKey(RoutingOwner owner, string? routingKey)
    {
        if (routingKey is null)
        {
            throw owner.Invalid("routing key", routingKey, "a routing key is required");
        }

        CheckLength(owner, "routing key", routingKey);
    }

    /// <summary>Checks a name carried in a header (a message type, a partition key): not blank and at most 255 bytes.</summary>
    /// <param name="owner">The event type or message type the value is for, named in the error.</param>
    /// <param name="field">What the value is, as the error names it ("partition key").</param>
    /// <param name="value">The value.</param>
    /// <exception cref="InvalidRoutingException">The value is blank or too long.</exception>
    public static void ValidateName(RoutingOwner owner, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw owner.Invalid(field, value, $"the {field} must not be empty");
        }

        CheckLength(owner, field, value);
    }

    private static void CheckLength(RoutingOwner owner, string field, string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > MaxShortStringBytes)
        {
            throw owner.Invalid(field, value, $"it is {bytes} bytes in UTF-8, over the AMQP limit of {MaxShortStringBytes}");
        }
    }
}

/// <summary>What a routing value belongs to: an event type, or a message published by name.</summary>
/// <param name="EventType">The event type, or <see langword="null"/> for a message published by name.</param>
/// <param name="MessageType">The message type of a message published by name.</param>
public readonly record struct RoutingOwner(Type? EventType, string? MessageType)
{
    /// <summary>An event type as the owner of a routing value.</summary>
    /// <param name="eventType">The event type.</param>
    public static implicit operator RoutingOwner(Type eventType) => new(eventType, null);

    /// <summary>A message published by name as the owner of a routing value.</summary>
    /// <param name="messageType">The message type.</param>
    /// <returns>The owner.</returns>
    public static RoutingOwner Named(string? messageType) => new(null, messageType);

    /// <summary>The error for a value of this owner that a broker would refuse.</summary>
    /// <param name="field">What the value is ("exchange").</param>
    /// <param name="value">The value.</param>
    /// <param name="reason">Why it is refused.</param>
    /// <returns>The error, to throw.</returns>
    public InvalidRoutingException Invalid(string field, string? value, string reason) =>
        EventType is not null ? new InvalidRoutingException(EventType, field, value, reason) : new InvalidRoutingException(MessageType, field, value, reason);
}
