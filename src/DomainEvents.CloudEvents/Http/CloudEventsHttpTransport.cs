using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.Http;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.Extensions.Logging;

namespace DomainEvents.CloudEvents.Http;

/// <summary>
/// Posts each outbox row to an HTTP sink as a CloudEvent in binary content mode (attributes as <c>ce-*</c>
/// headers, the payload JSON as the body), and tells the relay what the answer means:
/// <list type="table">
/// <listheader><term>answer</term><description>outcome</description></listheader>
/// <item><term>2xx</term><description>delivered.</description></item>
/// <item><term>408, 429, 5xx</term><description><see cref="DeferredDeliveryException"/>: the attempt counts and the next one waits for
/// Retry-After (seconds or an HTTP date), or for the relay's back-off when there is none.</description></item>
/// <item><term>other 4xx</term><description><see cref="PermanentDeliveryException"/> with the status, the reason and the start of the
/// body: the row is dead at once, since sending it again cannot help.</description></item>
/// <item><term>1xx, 3xx</term><description><see cref="DeferredDeliveryException"/>: redirects are not followed (a POST must not turn
/// into a GET), so the sink URL is probably wrong; the attempt counts.</description></item>
/// <item><term>no answer within <see cref="CloudEventsOptions.RequestTimeout"/>, or the connection broke mid-request</term>
/// <description><see cref="DeferredDeliveryException"/>: the attempt counts, so a sink that keeps timing out on one message
/// eventually makes it dead instead of holding its partition forever.</description></item>
/// <item><term>no connection (refused, unreachable, name not resolved, TLS failed, or, on the transport's own client, not connected
/// within half the request timeout)</term><description><see cref="TransportUnavailableException"/>: nothing reached the sink, so
/// nothing counts; the relay pauses and tries again.</description></item>
/// <item><term>an answer to a request that an application's HttpClient sent after following a redirect as a GET</term>
/// <description><see cref="DeferredDeliveryException"/>, as for a 3xx: whatever answered the GET did not take the event.</description></item>
/// </list>
/// </summary>
internal sealed class CloudEventsHttpTransport : IOutboxTransport, IDisposable
{
    /// <summary>The longest Retry-After honoured; a longer one is cut to this.</summary>
    internal static readonly TimeSpan MaxRetryAfter = TimeSpan.FromDays(1);

    private const int MaxBodyExcerptBytes = 1024;
    private const int MaxBodyExcerptChars = 200;

    private readonly CloudEventMapper _mapper;
    private readonly TimeSpan _requestTimeout;
    private readonly Func<IServiceProvider, HttpClient>? _clientFactory;
    private readonly IServiceProvider _services;
    private readonly HttpClient? _ownedClient;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Initializes the transport; the sink is resolved here, when the host starts the relay.</summary>
    /// <exception cref="SinkNotConfiguredException">No sink URL is configured.</exception>
    public CloudEventsHttpTransport(
        CloudEventsOptions options,
        CloudEventMapper mapper,
        IServiceProvider services,
        TimeProvider time,
        ILogger<CloudEventsHttpTransport> logger)
    {
        SinkUrl = options.ResolveSink();
        _sinkForLogs = Redact(SinkUrl);
        _mapper = mapper;
        _requestTimeout = options.RequestTimeout;
        _clientFactory = options.HttpClientFactory;
        _services = services;
        _time = time;
        _logger = logger;
        if (_clientFactory is null)
        {
            var handler = new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                AllowAutoRedirect = false,
                ConnectTimeout = _requestTimeout / 2,
            };
            _ownedClient = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        }

        CloudEventsHttpLog.Started(_logger, _sinkForLogs, mapper.Source);
    }

    /// <summary>Gets the URL every event is posted to.</summary>
    public Uri SinkUrl { get; }

    /// <summary>The sink as logs and stored errors show it: without user info or query, which may carry credentials.</summary>
    private readonly string _sinkForLogs;

    internal static string Redact(Uri url) =>
        url.IsAbsoluteUri
            ? $"{url.Scheme}://{(url.UserInfo.Length > 0 ? "***@" : "")}{url.Authority}{url.AbsolutePath}{(url.Query.Length > 1 ? "?***" : "")}"
            : "***";

    public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var cloudEvent = _mapper.ToCloudEvent(envelope);
        using var request = new HttpRequestMessage(HttpMethod.Post, SinkUrl)
        {
            Content = cloudEvent.ToHttpContent(ContentMode.Binary, _mapper.Formatter),
        };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_requestTimeout);
        var client = _ownedClient ?? _clientFactory!(_services);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && !timeout.IsCancellationRequested && _ownedClient is not null)
        {
            // Neither the relay nor the request's own timeout, on the transport's own client (whose HttpClient.Timeout is
            // infinite): its handler's connect timeout. Nothing reached the sink. An application's client may have a timeout
            // of its own, after the request reached the sink: that is a timeout like the one below.
            throw new TransportUnavailableException($"The sink {_sinkForLogs} cannot be reached: no connection within {_requestTimeout / 2}.", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new DeferredDeliveryException($"The sink {_sinkForLogs} did not answer {Describe(envelope)} within {_requestTimeout}.", TimeSpan.Zero, ex);
        }
        catch (HttpRequestException ex) when (IsUnreachable(ex))
        {
            throw new TransportUnavailableException($"The sink {_sinkForLogs} cannot be reached: {ex.Message}", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new DeferredDeliveryException($"Posting {Describe(envelope)} to {_sinkForLogs} failed: {ex.Message}", TimeSpan.Zero, ex);
        }

        using (response)
        {
            await HandleAsync(envelope, response, timeout.Token).ConfigureAwait(false);
        }
    }

    public void Dispose() => _ownedClient?.Dispose();

    /// <summary>Reads Retry-After: a delay in seconds or an HTTP date, from <paramref name="now"/>; zero when absent or past.</summary>
    internal static TimeSpan RetryAfterOf(HttpResponseMessage response, DateTimeOffset now)
    {
        var delay = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - now,
            _ => TimeSpan.Zero,
        };
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay > MaxRetryAfter ? MaxRetryAfter : delay;
    }

    private async Task HandleAsync(OutboxEnvelope envelope, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (response.RequestMessage is { } sent && sent.Method != HttpMethod.Post)
        {
            // An HttpClient of the application's that follows redirects turns the POST into a GET on 301, 302 and 303 and
            // drops the event: whatever answered that GET did not take it. Counted as a 3xx is.
            throw new DeferredDeliveryException(string.Create(CultureInfo.InvariantCulture,
                $"The sink {_sinkForLogs} redirected the post of {Describe(envelope)}, and the HttpClient followed it with a {sent.Method} to {Redact(sent.RequestUri ?? SinkUrl)} (answered {status}), which delivers nothing: point the sink URL at the final address, or turn off AllowAutoRedirect on the client."),
                TimeSpan.Zero);
        }

        if (status is >= 200 and <= 299)
        {
            CloudEventsHttpLog.Delivered(_logger, envelope.MessageType, envelope.MessageId, _sinkForLogs, status);
            return;
        }

        var answer = string.Create(CultureInfo.InvariantCulture, $"The sink {_sinkForLogs} answered {Describe(envelope)} with {status} {ReasonOf(response)}");
        if (status is 408 or 429 or >= 500)
        {
            var retryAfter = RetryAfterOf(response, _time.GetUtcNow());
            throw new DeferredDeliveryException(
                retryAfter > TimeSpan.Zero ? $"{answer}; it asked to retry after {retryAfter}." : $"{answer}.",
                retryAfter);
        }

        if (status is >= 400 and <= 499)
        {
            var body = await BodyExcerptAsync(response, cancellationToken).ConfigureAwait(false);
            throw new PermanentDeliveryException(body.Length > 0 ? $"{answer}: {body}" : $"{answer}.");
        }

        var location = response.Headers.Location is { } target ? $" (Location: {target})" : "";
        throw new DeferredDeliveryException(
            $"{answer}{location}; redirects are not followed, so check the sink URL.", TimeSpan.Zero);
    }

    private static string Describe(OutboxEnvelope envelope) =>
        string.Create(CultureInfo.InvariantCulture, $"{envelope.MessageType} {envelope.MessageId}");

    private static string ReasonOf(HttpResponseMessage response) =>
        string.IsNullOrWhiteSpace(response.ReasonPhrase) ? response.StatusCode.ToString() : response.ReasonPhrase;

    private static bool IsUnreachable(HttpRequestException exception)
    {
        if (exception.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
            or HttpRequestError.ProxyTunnelError or HttpRequestError.SecureConnectionError)
        {
            return true;
        }

        // Handlers other than SocketsHttpHandler may not classify the error; the socket error still tells.
        return exception.InnerException is SocketException
        {
            SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable
                or SocketError.HostNotFound or SocketError.HostDown or SocketError.NetworkDown,
        };
    }

    private static async Task<string> BodyExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new byte[MaxBodyExcerptBytes];
                var read = 0;
                int n;
                while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    read += n;
                }

                var text = string.Join(' ', Encoding.UTF8.GetString(buffer, 0, read).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
                return text.Length > MaxBodyExcerptChars ? string.Concat(text.AsSpan(0, MaxBodyExcerptChars), "…") : text;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            // The status says enough; a body that cannot be read adds nothing.
            return "";
        }
    }
}
