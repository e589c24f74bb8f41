namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// What a header set by an enricher may be called and hold, so that it travels in every envelope unchanged. A transport's
/// reader uses <see cref="IsCustomName"/> to tell those headers from its own.
/// </summary>
public static class OutboxHeaderRules
{
    /// <summary>The longest name, in characters.</summary>
    public const int MaxNameLength = 20;

    /// <summary>The longest value, in characters.</summary>
    public const int MaxValueLength = 1000;

    /// <summary>
    /// Names the library writes itself, in the stored headers or as CloudEvents attributes, which an enricher may not
    /// take over.
    /// </summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time", "data", "data_base64",
        "traceparent", "tracestate", "baggage", "partitionkey", "version", "correlationid", "causationid",
    };

    /// <summary>Whether a name is one an enricher could have set: how a reader tells those headers from a transport's own.</summary>
    /// <param name="name">The header's name.</param>
    /// <returns>Whether an enricher could have set it.</returns>
    public static bool IsCustomName(string? name) => name is { Length: > 0 and <= MaxNameLength } && IsLowerAlphanumeric(name) && !Reserved.Contains(name);

    /// <summary>Checks a header an enricher sets.</summary>
    /// <param name="name">The name: 1 to 20 lowercase ASCII letters or digits, not one the library writes.</param>
    /// <param name="value">The value: not null, at most 1,000 characters, no control characters.</param>
    /// <exception cref="InvalidOutboxHeaderException">The name or the value is not allowed.</exception>
    public static void Validate(string? name, string? value)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || !IsLowerAlphanumeric(name))
        {
            throw new InvalidOutboxHeaderException(name, value, $"a name is 1 to {MaxNameLength} lowercase ASCII letters or digits (a valid CloudEvents extension name)");
        }

        if (Reserved.Contains(name))
        {
            throw new InvalidOutboxHeaderException(name, value, "the name is one the library writes itself");
        }

        if (value is null)
        {
            throw new InvalidOutboxHeaderException(name, value, "the value is null; leave the header out instead");
        }

        if (value.Length > MaxValueLength)
        {
            throw new InvalidOutboxHeaderException(name, value, $"the value is {value.Length} characters, over the limit of {MaxValueLength}");
        }

        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                throw new InvalidOutboxHeaderException(name, value, "the value holds a control character, which message and HTTP headers cannot carry");
            }
        }
    }

    private static bool IsLowerAlphanumeric(string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
            {
                return false;
            }
        }

        return true;
    }
}
