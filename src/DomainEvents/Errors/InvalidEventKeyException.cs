namespace DomainEvents.Errors;

/// <summary>A keyed event's key is empty, longer than 200 characters, or holds a control character. The save fails; nothing is committed.</summary>
public sealed class InvalidEventKeyException : DomainEventsException
{
    /// <summary>The longest key, in characters.</summary>
    public const int MaxLength = 200;

    /// <summary>Initializes the exception.</summary>
    /// <param name="eventType">The event.</param>
    /// <param name="key">The rejected key.</param>
    public InvalidEventKeyException(Type eventType, string? key)
        : base($"The key of {eventType.Name} is invalid: a key is 1 to {MaxLength} characters without control characters (value: '{key}').")
    {
        EventType = eventType;
        Key = key;
    }

    /// <summary>Gets the event.</summary>
    public Type EventType { get; }

    /// <summary>Gets the rejected key.</summary>
    public string? Key { get; }

    /// <summary>Checks a key.</summary>
    /// <param name="keyed">The event.</param>
    /// <returns>The key.</returns>
    /// <exception cref="InvalidEventKeyException">The key is invalid.</exception>
    public static string Check(IKeyedEvent keyed)
    {
        ArgumentNullException.ThrowIfNull(keyed);
        var key = keyed.EventKey;
        return IsValid(key) ? key : throw new InvalidEventKeyException(keyed.GetType(), key);
    }

    /// <summary>The rule for every key, of keyed events and of once-per-key consumers alike: not blank, at most <see cref="MaxLength"/> characters, no control characters.</summary>
    /// <param name="key">The key.</param>
    /// <returns>Whether the key is valid.</returns>
    public static bool IsValid([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? key) =>
        !string.IsNullOrWhiteSpace(key) && key.Length <= MaxLength && !key.Any(char.IsControl);
}
