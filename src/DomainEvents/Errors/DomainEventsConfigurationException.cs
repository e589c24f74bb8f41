namespace DomainEvents.Errors;

/// <summary>A value of the <c>DomainEvents</c> configuration section that is not valid, named by its full key.</summary>
public sealed class DomainEventsConfigurationException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="key">The full configuration key, such as <c>DomainEvents:Relay:BatchSize</c>.</param>
    /// <param name="reason">What is wrong with the value and what is accepted.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public DomainEventsConfigurationException(string key, string reason, Exception? innerException = null)
        : base($"Configuration '{key}': {reason}", innerException)
    {
        Key = key;
    }

    /// <summary>Gets the full configuration key of the value, such as <c>DomainEvents:Relay:BatchSize</c>.</summary>
    public string Key { get; }
}
