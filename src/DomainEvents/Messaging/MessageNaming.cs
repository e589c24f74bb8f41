using System.Text;

namespace DomainEvents.Messaging;

/// <summary>The naming conventions for message types, routing keys and exchanges.</summary>
public static class MessageNaming
{
    private static readonly string[] Suffixes = ["IntegrationEvent", "DomainEvent", "Event"];

    /// <summary>
    /// Splits a CLR type name into a message type name in dotted lower case and a version:
    /// <c>OrderPlaced</c> is <c>order.placed</c> version 1, <c>OrderPlacedV2</c> is <c>order.placed</c> version 2,
    /// and a trailing <c>Event</c> or <c>IntegrationEvent</c> is dropped.
    /// </summary>
    /// <param name="typeName">The CLR type name (without namespace).</param>
    /// <returns>The message type name and version.</returns>
    public static (string MessageType, int Version) FromTypeName(string typeName)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeName);
        var name = StripSuffix(StripGenericArity(typeName));
        var version = 1;
        var v = name.Length - 1;
        while (v > 0 && char.IsAsciiDigit(name[v]))
        {
            v--;
        }

        if (v > 0 && v < name.Length - 1 && name[v] == 'V' && int.TryParse(name.AsSpan(v + 1), out var parsed) && parsed > 0)
        {
            version = parsed;
            name = StripSuffix(name[..v].TrimEnd('_'));
        }

        return (Split(name, '.'), version);
    }

    /// <summary>Turns a CLR type name into kebab-case: <c>PurchaseOrder</c> becomes <c>purchase-order</c>.</summary>
    /// <param name="typeName">The CLR type name.</param>
    /// <returns>The kebab-case name.</returns>
    public static string ToKebabCase(string typeName)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeName);
        return Split(StripGenericArity(typeName), '-');
    }

    private static string StripSuffix(string name)
    {
        foreach (var suffix in Suffixes)
        {
            if (name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal))
            {
                return name[..^suffix.Length];
            }
        }

        return name;
    }

    private static string StripGenericArity(string name)
    {
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? name : name[..tick];
    }

    private static string Split(string name, char separator)
    {
        var builder = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                var startsWord = i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) ||
                                           (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1])));
                if (startsWord && builder.Length > 0 && builder[^1] != separator)
                {
                    builder.Append(separator);
                }

                builder.Append(char.ToLowerInvariant(c));
            }
            else if (c == '_')
            {
                if (builder.Length > 0 && builder[^1] != separator && i < name.Length - 1)
                {
                    builder.Append(separator);
                }
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
