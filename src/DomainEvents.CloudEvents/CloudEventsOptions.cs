using System.Reflection;

namespace DomainEvents.CloudEvents;

/// <summary>
/// How outbox rows become CloudEvents, and where the HTTP relay sends them. The defaults follow Knative: a
/// SinkBinding or ContainerSource sets <c>K_SINK</c> and <c>K_SOURCE</c> in the container, and nothing else
/// needs configuring.
/// </summary>
public sealed class CloudEventsOptions
{
    /// <summary>The environment variable that holds the sink URL (default <c>K_SINK</c>, as Knative sets it).</summary>
    public const string DefaultSinkVariable = "K_SINK";

    /// <summary>The environment variable that holds the event source (default <c>K_SOURCE</c>, as Knative sets it).</summary>
    public const string DefaultSourceVariable = "K_SOURCE";

    /// <summary>The source used when neither <see cref="Source"/> nor the source variable is set: this prefix and the entry assembly name.</summary>
    public const string DefaultSourcePrefix = "urn:domainevents:";

    /// <summary>Whether the CloudEvent type carries the schema version as a suffix, such as <c>order.placed.v2</c> (default no).</summary>
    public const bool DefaultTypeIncludesVersion = false;

    /// <summary>How long the sink may take to answer one request (default 10 s).</summary>
    public static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Gets or sets the <c>source</c> attribute of every event. When <see langword="null"/> (the default), it is read
    /// from the environment variable named by <see cref="SourceVariable"/>, and failing that it is
    /// <see cref="DefaultSourcePrefix"/> followed by the entry assembly name, such as <c>urn:domainevents:Ordering</c>.
    /// </summary>
    public Uri? Source { get; set; }

    /// <summary>Gets or sets the name of the environment variable that holds the source (default <see cref="DefaultSourceVariable"/>).</summary>
    public string SourceVariable { get; set; } = DefaultSourceVariable;

    /// <summary>
    /// Gets or sets the sink URL the HTTP relay posts to. When <see langword="null"/> (the default), it is read from the
    /// environment variable named by <see cref="SinkVariable"/> when the host starts.
    /// </summary>
    public Uri? SinkUrl { get; set; }

    /// <summary>Gets or sets the name of the environment variable that holds the sink URL (default <see cref="DefaultSinkVariable"/>).</summary>
    public string SinkVariable { get; set; } = DefaultSinkVariable;

    /// <summary>
    /// Gets or sets whether the <c>type</c> attribute ends with the schema version, such as <c>order.placed.v2</c>, for
    /// brokers and triggers that filter on the type alone. The version is always sent as the <c>version</c> extension too.
    /// </summary>
    public bool TypeIncludesVersion { get; set; } = DefaultTypeIncludesVersion;

    /// <summary>
    /// Gets or sets how long the sink may take to answer one request. A request that times out counts as a failed
    /// attempt, so a sink that never answers a message eventually makes it dead. It must be shorter than the relay's
    /// <c>SendTimeout</c> by a tenth of it at least (a send that times out counts no attempt).
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = DefaultRequestTimeout;

    /// <summary>
    /// Gets or sets where the HTTP relay gets its <see cref="HttpClient"/>, called once per request; for example
    /// <c>sp =&gt; sp.GetRequiredService&lt;IHttpClientFactory&gt;().CreateClient("sink")</c> to add handlers for
    /// authentication or resilience. When <see langword="null"/> (the default), the relay owns one client whose
    /// pooled connections are renewed every two minutes, so DNS changes are seen. Do not return a new client with a
    /// new handler on each call: that exhausts sockets.
    /// </summary>
    public Func<IServiceProvider, HttpClient>? HttpClientFactory { get; set; }

    /// <summary>Resolves the source: the explicit one, else the source variable, else the default.</summary>
    /// <exception cref="InvalidEventSourceException">The source variable holds no URI reference.</exception>
    internal Uri ResolveSource()
    {
        if (Source is not null)
        {
            return Source;
        }

        var value = Environment.GetEnvironmentVariable(SourceVariable);
        if (string.IsNullOrWhiteSpace(value))
        {
            var name = Assembly.GetEntryAssembly()?.GetName().Name ?? "app";
            return new Uri(DefaultSourcePrefix + Uri.EscapeDataString(name), UriKind.Absolute);
        }

        return Uri.TryCreate(value.Trim(), UriKind.RelativeOrAbsolute, out var source)
            ? source
            : throw new InvalidEventSourceException(SourceVariable, value);
    }

    /// <summary>Resolves the sink URL: the explicit one, else the sink variable.</summary>
    /// <exception cref="SinkNotConfiguredException">Neither is set, or the value is not an absolute http or https URL.</exception>
    internal Uri ResolveSink()
    {
        if (SinkUrl is not null)
        {
            return IsHttp(SinkUrl) ? SinkUrl : throw new SinkNotConfiguredException(SinkVariable, SinkUrl.OriginalString, fromVariable: false);
        }

        var value = Environment.GetEnvironmentVariable(SinkVariable);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new SinkNotConfiguredException(SinkVariable, value: null, fromVariable: true);
        }

        return Uri.TryCreate(value.Trim(), UriKind.Absolute, out var sink) && IsHttp(sink)
            ? sink
            : throw new SinkNotConfiguredException(SinkVariable, value, fromVariable: true);
    }

    /// <summary>Checks the names of the environment variables and the request timeout; a transport calls it when it is added.</summary>
    /// <exception cref="ArgumentException">A value is not valid; the exception's parameter names it.</exception>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(SinkVariable, nameof(SinkVariable));
        ArgumentException.ThrowIfNullOrWhiteSpace(SourceVariable, nameof(SourceVariable));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero, nameof(RequestTimeout));
    }

    private static bool IsHttp(Uri uri) =>
        uri.IsAbsoluteUri && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
