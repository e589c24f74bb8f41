using System.Text;
using DomainEvents.Errors;

namespace DomainEvents.Messaging;

/// <summary>Checks exchanges, routing keys and names against what AMQP 0-9-1 brokers accept.</summary>
internal static class RoutingValidator
{
    /// <summary>The longest short string AMQP allows, in UTF-8 bytes.</summary>
    public const int MaxShortStringBytes = 255;

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

    public static void ValidateRoutingKey(RoutingOwner owner, string? routingKey)
    {
        if (routingKey is null)
        {
            throw owner.Invalid("routing key", routingKey, "a routing key is required");
        }

        CheckLength(owner, "routing key", routingKey);
    }

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
internal readonly record struct RoutingOwner(Type? EventType, string? MessageType)
{
    public static implicit operator RoutingOwner(Type eventType) => new(eventType, null);

    public static RoutingOwner Named(string? messageType) => new(null, messageType);

    public InvalidRoutingException Invalid(string field, string? value, string reason) =>
        EventType is not null ? new InvalidRoutingException(EventType, field, value, reason) : new InvalidRoutingException(MessageType, field, value, reason);
}
