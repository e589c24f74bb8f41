using DomainEvents.Errors;

namespace DomainEvents.CloudEvents;

/// <summary>
/// The HTTP relay has nowhere to send: neither <see cref="CloudEventsOptions.SinkUrl"/> nor the sink environment
/// variable (<c>K_SINK</c> by default) is set, or the value is not an absolute http or https URL.
/// </summary>
public sealed class SinkNotConfiguredException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="sinkVariable">The environment variable that was read.</param>
    /// <param name="value">The value that is not a URL, or <see langword="null"/> when nothing was set.</param>
    /// <param name="fromVariable">Whether the value came from the variable rather than from <see cref="CloudEventsOptions.SinkUrl"/>.</param>
    public SinkNotConfiguredException(string sinkVariable, string? value, bool fromVariable)
        : base(MessageFor(sinkVariable, value, fromVariable))
    {
        SinkVariable = sinkVariable;
        Value = value;
    }

    /// <summary>Gets the environment variable that was read.</summary>
    public string SinkVariable { get; }

    /// <summary>Gets the value that is not a usable URL, or <see langword="null"/> when nothing was set.</summary>
    public string? Value { get; }

    private static string MessageFor(string sinkVariable, string? value, bool fromVariable) =>
        value is null
            ? $"The CloudEvents HTTP relay has no sink: set the environment variable {sinkVariable} to the sink URL " +
              "(a Knative SinkBinding or ContainerSource sets it for you), or set CloudEventsOptions.SinkUrl in AddCloudEventsHttpRelay(...)."
            : $"The CloudEvents HTTP relay cannot use the sink '{Shown(value)}' from {(fromVariable ? $"the environment variable {sinkVariable}" : "CloudEventsOptions.SinkUrl")}: " +
              "it must be an absolute http or https URL, such as http://broker-ingress.knative-eventing.svc.cluster.local/default/default.";

    /// <summary>The value as the message shows it, which ends up in logs: without user info or query, which may carry credentials.</summary>
    private static string Shown(string value)
    {
        // User info first, up to the last '@' (a password may hold '?', '/' or '#'; a path with an '@' loses more than it
        // must, which is the safe side), then the query.
        var text = value.Trim();
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var start = scheme >= 0 ? scheme + 3 : 0;
        var at = text.LastIndexOf('@');
        if (at >= start)
        {
            text = text[..start] + "***@" + text[(at + 1)..];
        }

        var query = text.IndexOf('?', StringComparison.Ordinal);
        return query >= 0 ? text[..query] + "?***" : text;
    }
}
