using DomainEvents.Errors;

namespace DomainEvents.CloudEvents;

/// <summary>The source environment variable (<c>K_SOURCE</c> by default) holds something that is not a URI reference.</summary>
public sealed class InvalidEventSourceException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="sourceVariable">The environment variable that was read.</param>
    /// <param name="value">Its value.</param>
    public InvalidEventSourceException(string sourceVariable, string value)
        : base($"The environment variable {sourceVariable} is '{value}', which is not a URI reference, so it cannot be the CloudEvents source. " +
               "Set it to a URI such as /apis/v1/namespaces/default/sinkbindings/orders, or set CloudEventsOptions.Source.")
    {
        SourceVariable = sourceVariable;
        Value = value;
    }

    /// <summary>Gets the environment variable that was read.</summary>
    public string SourceVariable { get; }

    /// <summary>Gets its value.</summary>
    public string Value { get; }
}
