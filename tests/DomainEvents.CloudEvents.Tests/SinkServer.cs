using System.Collections.Concurrent;
using System.Net;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.Http;
using CloudNative.CloudEvents.SystemTextJson;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DomainEvents.CloudEvents.Tests;

/// <summary>
/// A real HTTP sink: Kestrel on 127.0.0.1. Every request is parsed by the CloudEvents SDK's own HTTP binding
/// (the ASP.NET Core request is handed over as an <see cref="HttpRequestMessage"/>, untouched) and validated,
/// so the tests check the spec as the SDK reads it rather than our own reading of it. Each test posts to a
/// channel of its own (a path), which can be told how to answer.
/// </summary>
public sealed class SinkServer : IAsyncDisposable
{
    /// <summary>
    /// The extensions we send, declared here from the spec and docs/knative.md rather than taken from the code
    /// under test, so the SDK parses version as an integer.
    /// </summary>
    public static readonly CloudEventAttribute[] Extensions =
    [
        CloudEventAttribute.CreateExtension("partitionkey", CloudEventAttributeType.String),
        CloudEventAttribute.CreateExtension("version", CloudEventAttributeType.Integer),
        CloudEventAttribute.CreateExtension("traceparent", CloudEventAttributeType.String),
        CloudEventAttribute.CreateExtension("tracestate", CloudEventAttributeType.String),
        CloudEventAttribute.CreateExtension("correlationid", CloudEventAttributeType.String),
        CloudEventAttribute.CreateExtension("causationid", CloudEventAttributeType.String),
    ];

    private static readonly CloudEventFormatter Formatter = new JsonEventFormatter();

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, SinkChannel> _channels = new(StringComparer.Ordinal);

    private SinkServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>Starts a server on 127.0.0.1, on the given port or a free one.</summary>
    public static async Task<SinkServer> StartAsync(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Urls.Add($"http://127.0.0.1:{port}");
        SinkServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new SinkServer(app, new Uri(address + "/"));
        return server;
    }

    /// <summary>A new channel: a path on this server with its own record and answers.</summary>
    public SinkChannel NewChannel()
    {
        var channel = new SinkChannel(new Uri(BaseAddress, $"sink/{Guid.NewGuid():N}"));
        _channels[channel.Url.AbsolutePath] = channel;
        return channel;
    }

    /// <summary>Takes over a channel from another server (the same path on a server started later).</summary>
    public void Adopt(SinkChannel channel) => _channels[channel.Url.AbsolutePath] = channel;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var receivedAt = DateTime.UtcNow;
        if (HttpMethods.IsGet(context.Request.Method))
        {
            // What a redirect that a client follows as a GET finds: a page, which takes no event.
            context.Response.StatusCode = StatusCodes.Status200OK;
            await context.Response.WriteAsync("<html>a landing page</html>", context.RequestAborted);
            return;
        }

        if (!_channels.TryGetValue(context.Request.Path.Value ?? "", out var channel))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        CloudEvent? cloudEvent = null;
        string? error = null;
        try
        {
            using var message = ToRequestMessage(context.Request, body.ToArray());
            cloudEvent = await message.ToCloudEventAsync(Formatter, Extensions);
            cloudEvent.Validate();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            error = ex.Message;
        }

        var answer = error is null ? channel.NextAnswer() : new SinkAnswer(HttpStatusCode.BadRequest, Body: error);
        if (answer.Delay is { } delay)
        {
            try
            {
                await Task.Delay(delay, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                channel.Record(new ReceivedRequest(cloudEvent, error, ReadHeaders(context.Request), body.ToArray(), receivedAt, DateTime.UtcNow, 0));
                return;
            }
        }

        context.Response.StatusCode = (int)answer.Status;
        if (answer.RetryAfter is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        if (answer.Location is { } location)
        {
            context.Response.Headers.Location = location;
        }

        channel.Record(new ReceivedRequest(cloudEvent, error, ReadHeaders(context.Request), body.ToArray(), receivedAt, DateTime.UtcNow, (int)answer.Status));
        if (answer.Body is { } text)
        {
            await context.Response.WriteAsync(text, context.RequestAborted);
        }
    }

    /// <summary>The ASP.NET Core request as the HttpRequestMessage that the SDK's HTTP binding reads: same headers, same body.</summary>
    private static HttpRequestMessage ToRequestMessage(HttpRequest request, byte[] body)
    {
        var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path.Value)
        {
            Content = new ByteArrayContent(body),
        };
        foreach (var (name, values) in request.Headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                message.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        return message;
    }

    private static Dictionary<string, string> ReadHeaders(HttpRequest request) =>
        request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
}

/// <summary>How the sink answers one request.</summary>
public sealed record SinkAnswer(HttpStatusCode Status, string? RetryAfter = null, string? Body = null, TimeSpan? Delay = null, string? Location = null);

/// <summary>One request as the sink saw it.</summary>
/// <param name="CloudEvent">The event as the SDK parsed it, or null when it could not.</param>
/// <param name="Error">Why the SDK could not parse or validate it.</param>
/// <param name="Headers">The HTTP headers (names in lower case).</param>
/// <param name="Body">The body bytes.</param>
/// <param name="ReceivedAt">When the request arrived.</param>
/// <param name="AnsweredAt">When it was answered.</param>
/// <param name="Status">The status answered; 0 when the client gave up first.</param>
public sealed record ReceivedRequest(
    CloudEvent? CloudEvent,
    string? Error,
    IReadOnlyDictionary<string, string> Headers,
    byte[] Body,
    DateTime ReceivedAt,
    DateTime AnsweredAt,
    int Status);

/// <summary>One test's part of the sink.</summary>
public sealed class SinkChannel(Uri url)
{
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private readonly Queue<SinkAnswer> _script = new();
    private readonly Lock _lock = new();

    public Uri Url { get; } = url;

    public IReadOnlyList<ReceivedRequest> Requests => [.. _requests];

    /// <summary>The events that were answered with 2xx.</summary>
    public IReadOnlyList<CloudEvent> Delivered => [.. _requests.Where(r => r.Status is >= 200 and <= 299).Select(r => r.CloudEvent!)];

    /// <summary>Answers the next <paramref name="count"/> requests so; later ones get 202 Accepted.</summary>
    public SinkChannel Answer(int count, SinkAnswer answer)
    {
        lock (_lock)
        {
            for (var i = 0; i < count; i++)
            {
                _script.Enqueue(answer);
            }
        }

        return this;
    }

    public SinkChannel Answer(int count, HttpStatusCode status, string? retryAfter = null, string? body = null) =>
        Answer(count, new SinkAnswer(status, retryAfter, body));

    internal SinkAnswer NextAnswer()
    {
        lock (_lock)
        {
            return _script.TryDequeue(out var answer) ? answer : new SinkAnswer(HttpStatusCode.Accepted);
        }
    }

    internal void Record(ReceivedRequest request) => _requests.Enqueue(request);
}
