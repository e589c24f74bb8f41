namespace DomainEvents.Messaging;

/// <summary>
/// A pattern in RabbitMQ's topic syntax, matched against dotted names (routing keys, event groups): words separated by
/// dots, where <c>*</c> stands for exactly one word and <c>#</c> for zero or more. <c>challenge.*</c> matches
/// <c>challenge.ended</c> but not <c>challenge</c> or <c>challenge.ended.late</c>; <c>challenge.#</c> matches all three.
/// </summary>
public sealed class TopicPattern
{
    private readonly string[] _words;

    private TopicPattern(string pattern)
    {
        Pattern = pattern;
        _words = pattern.Split('.');
    }

    /// <summary>Gets the pattern's text.</summary>
    public string Pattern { get; }

    /// <summary>Reads a pattern.</summary>
    /// <param name="pattern">The pattern: non-empty words separated by dots.</param>
    /// <returns>The pattern.</returns>
    /// <exception cref="ArgumentException">The pattern is empty or has an empty word.</exception>
    public static TopicPattern Parse(string pattern)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        if (pattern.Split('.').Any(w => w.Length == 0 || w.Any(char.IsWhiteSpace)))
        {
            throw new ArgumentException($"'{pattern}' is not a topic pattern: words separated by single dots, '*' for one word, '#' for zero or more.", nameof(pattern));
        }

        return new TopicPattern(pattern);
    }

    /// <summary>Whether <paramref name="name"/> matches the pattern.</summary>
    /// <param name="name">A dotted name, such as a routing key or an event group.</param>
    /// <returns><see langword="true"/> when it matches.</returns>
    public bool IsMatch(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Matches(_words, 0, name.Split('.'), 0);
    }

    /// <inheritdoc />
    public override string ToString() => Pattern;

    private static bool Matches(string[] pattern, int p, string[] name, int n)
    {
        if (p == pattern.Length)
        {
            return n == name.Length;
        }

        if (pattern[p] == "#")
        {
            for (var skip = n; skip <= name.Length; skip++)
            {
                if (Matches(pattern, p + 1, name, skip))
                {
                    return true;
                }
            }

            return false;
        }

        return n < name.Length && (pattern[p] == "*" || string.Equals(pattern[p], name[n], StringComparison.Ordinal)) && Matches(pattern, p + 1, name, n + 1);
    }
}
