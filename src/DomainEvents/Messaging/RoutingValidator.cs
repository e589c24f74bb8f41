using System.Text;
using DomainEvents.Errors;

namespace DomainEvents.Messaging;

/// <summary>Checks exchanges, routing keys and names against what AMQP 0-9-1 brokers accept.</summary>
internal static class RoutingValidator
{
    /// <summary>The longest short string AMQP allows, in UTF-8 bytes.</summary>
    public const int MaxShortStringBytes = 255;

    public static void ValidateExchange(Type eventType, string? exchange)
    {
        if (string.IsNullOrEmpty(exchange))
        {
            throw new InvalidRoutingException(eventType, "exchange", exchange, "an integration event needs a named exchange; the default exchange cannot be bound by routing-key pattern");
        }

        CheckLength(eventType, "exchange", exchange);
        foreach (var c in exchange)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                throw new InvalidRoutingException(eventType, "exchange", exchange, $"the character '{c}' is not allowed; use letters, digits, '-', '_', '.' or ':'");
            }
        }

        if (exchange.StartsWith("amq.", StringComparison.Ordinal))
        {
            throw new InvalidRoutingException(eventType, "exchange", exchange, "names starting with 'amq.' are reserved by the broker");
        }
    }

    public static void ValidateRoutingKey(Type eventType, string? routingKey)
    {
        if (routingKey is null)
        {
            throw new InvalidRoutingException(eventType, "routing key", routingKey, "a routing key is required");
        }

        CheckLength(eventType, "routing key", routingKey);
    }

    public static void ValidateName(Type eventType, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidRoutingException(eventType, field, value, $"the {field} must not be empty");
        }

        CheckLength(eventType, field, value);
    }

    private static void CheckLength(Type eventType, string field, string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        if (bytes > MaxShortStringBytes)
        {
            throw new InvalidRoutingException(eventType, field, value, $"it is {bytes} bytes in UTF-8, over the AMQP limit of {MaxShortStringBytes}");
        }
    }
}
