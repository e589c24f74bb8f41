using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DomainEvents.EntityFrameworkCore.Outbox;

namespace DomainEvents.CloudEvents.Tests;

[Category("Integration")]
public sealed class HandlingTheSinksAnswers
{
    [Test]
    public async Task A_200_answer_marks_the_row_processed()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, HttpStatusCode.OK);
        await using var host = await RelayHost.StartAsync(sink);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        row.Attempts.Should().Be(0);
        row.ProcessedAt.Should().NotBeNull();
        sink.Requests.Should().ContainSingle().Which.Status.Should().Be(200);
    }

    [Test]
    public async Task Credentials_in_the_sink_url_never_reach_the_stored_error()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, HttpStatusCode.BadRequest, body: "no");
        var withSecrets = new UriBuilder(sink.Url) { UserName = "relay", Password = "hunter2", Query = "sig=topsecret" }.Uri;
        await using var host = await RelayHost.StartAsync(sink, o => o.SinkUrl = withSecrets);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Dead);
        row.LastError.Should().Contain("400").And.Contain("***@").And.Contain(sink.Url.AbsolutePath).And.NotContain("hunter2").And.NotContain("topsecret");
    }

    [Test]
    public async Task A_400_answer_makes_the_row_dead_at_once_with_the_status_the_reason_and_the_body()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, HttpStatusCode.BadRequest, body: "field 'total' must be positive");
        await using var host = await RelayHost.StartAsync(sink);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Dead);
        row.Attempts.Should().Be(1);
        row.LastError.Should().Contain("PermanentDeliveryException").And.Contain("400 Bad Request").And.Contain("field 'total' must be positive");
        await Task.Delay(300);
        sink.Requests.Should().ContainSingle("a dead row is not sent again");
    }

    [Test]
    public async Task A_404_answer_makes_the_row_dead_at_once()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, HttpStatusCode.NotFound);
        await using var host = await RelayHost.StartAsync(sink);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Dead);
        row.Attempts.Should().Be(1);
        row.LastError.Should().Contain("404 Not Found");
    }

    [Test]
    public async Task A_redirect_that_the_applications_client_follows_as_a_GET_is_not_taken_for_a_delivery()
    {
        // An HttpClient of the application's follows redirects: the POST turns into a GET, which a page answers with 200.
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, new SinkAnswer(HttpStatusCode.Found, Location: "/landing"));
        using var following = new HttpClient();
        await using var host = await RelayHost.StartAsync(sink, o => o.HttpClientFactory = _ => following);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed, TimeSpan.FromSeconds(20));
        row.Attempts.Should().Be(1, "a redirect counts, followed or not");
        row.LastError.Should().Contain("followed it with a GET");
        sink.Requests.Select(r => r.Status).Should().Equal(302, 202);
        sink.Delivered.Should().ContainSingle("the event reached the sink itself, once").Which.Id.Should().Be(row.MessageId.ToString());
    }

    [TestCase(HttpStatusCode.RequestTimeout)]
    [TestCase(HttpStatusCode.TooManyRequests)]
    public async Task A_deferring_answer_counts_an_attempt_and_the_next_one_waits_for_Retry_After(HttpStatusCode status)
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, status, retryAfter: "2");
        await using var host = await RelayHost.StartAsync(sink);

        await host.PlaceOrderAsync();

        var deferred = await host.WaitForRowAsync(r => r.Attempts == 1);
        var first = sink.Requests.Single();
        deferred.Status.Should().Be(OutboxMessageStatus.Pending);
        deferred.LastError.Should().Contain("DeferredDeliveryException").And.Contain(((int)status).ToString());
        DateTime.SpecifyKind(deferred.NextAttemptAt, DateTimeKind.Utc).Should().BeOnOrAfter(first.AnsweredAt.AddSeconds(2));

        var delivered = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed, TimeSpan.FromSeconds(10));
        delivered.Attempts.Should().Be(1);
        sink.Requests.Should().HaveCount(2);
        sink.Requests[1].ReceivedAt.Should().BeOnOrAfter(first.AnsweredAt.AddSeconds(2), "the relay honours Retry-After");
        sink.Delivered.Should().ContainSingle().Which.Id.Should().Be(delivered.MessageId.ToString());
    }

    [Test]
    public async Task A_503_answer_is_retried_with_back_off_until_the_sink_accepts()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(2, HttpStatusCode.ServiceUnavailable);
        await using var host = await RelayHost.StartAsync(sink);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        row.Attempts.Should().Be(2);
        row.LastError.Should().Contain("503 Service Unavailable");
        sink.Requests.Select(r => r.Status).Should().Equal(503, 503, 202);
    }

    [Test]
    public async Task A_sink_that_keeps_failing_makes_the_row_dead_after_the_maximum_attempts()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(10, HttpStatusCode.InternalServerError);
        await using var host = await RelayHost.StartAsync(sink, configureRelay: r => r.MaxAttempts = 3);

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Dead);
        row.Attempts.Should().Be(3);
        row.LastError.Should().Contain("500 Internal Server Error");
        sink.Requests.Should().HaveCount(3);
    }

    [Test]
    public async Task A_sink_that_does_not_answer_in_time_costs_an_attempt_and_is_tried_again()
    {
        var sink = SinkServerFixture.Server.NewChannel().Answer(1, new SinkAnswer(HttpStatusCode.OK, Delay: TimeSpan.FromSeconds(5)));
        await using var host = await RelayHost.StartAsync(sink, o => o.RequestTimeout = TimeSpan.FromMilliseconds(500));

        await host.PlaceOrderAsync();

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        row.Attempts.Should().Be(1, "a timeout counts, so a sink that never answers a message makes it dead in the end");
        row.LastError.Should().Contain("DeferredDeliveryException").And.Contain("did not answer");
        sink.Requests.Select(r => r.Status).Should().Equal(0, 202);
    }

    [Test]
    public async Task A_sink_that_refuses_connections_costs_no_attempt_and_gets_the_event_once_it_listens()
    {
        var port = FreePort();
        var channel = new SinkChannel(new Uri($"http://127.0.0.1:{port}/sink/late"));
        await using var host = await RelayHost.StartAsync(channel);

        await host.PlaceOrderAsync();
        await Task.Delay(1000);
        var waiting = await host.SingleRowAsync();
        waiting.Status.Should().Be(OutboxMessageStatus.Pending);
        waiting.Attempts.Should().Be(0, "nothing reached the sink, so it is an outage, not the message's failure");

        await using var late = await SinkServer.StartAsync(port);
        late.Adopt(channel);

        var row = await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        row.Attempts.Should().Be(0);
        channel.Delivered.Should().ContainSingle().Which.Id.Should().Be(row.MessageId.ToString());
    }

    [Test]
    public async Task A_sink_that_takes_no_connection_within_the_connect_timeout_costs_no_attempt()
    {
        // A listener whose queue of connections is full: the kernel drops further SYNs, as for a sink behind a dead address.
        using var blocked = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blocked.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blocked.Listen(1);
        var endpoint = (IPEndPoint)blocked.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            var hangs = false;
            for (var i = 0; i < 8 && !hangs; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await filler.ConnectAsync(endpoint, wait.Token);
                }
                catch (OperationCanceledException)
                {
                    hangs = true;
                }
            }

            hangs.Should().BeTrue("a connection to the full listener must hang, or this test shows nothing");
            var channel = new SinkChannel(new Uri($"http://127.0.0.1:{endpoint.Port}/sink/blocked"));
            await using var host = await RelayHost.StartAsync(channel, o => o.RequestTimeout = TimeSpan.FromSeconds(1));

            // The relay's publish spans show that it did try to send (a relay that never tried would leave the row as it is too).
            var tried = new System.Collections.Concurrent.ConcurrentBag<string>();
            using var listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == DomainEvents.Messaging.DomainEventsTracing.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                ActivityStopped = activity =>
                {
                    if (activity.Kind == ActivityKind.Producer && activity.GetTagItem("messaging.message.id") is string id)
                    {
                        tried.Add(id);
                    }
                },
            };
            ActivitySource.AddActivityListener(listener);

            await host.PlaceOrderAsync();
            await Task.Delay(2500);
            var waiting = await host.SingleRowAsync();
            tried.Should().Contain(waiting.MessageId.ToString(), "the relay tried to send the row and gave up at the connect timeout");
            waiting.Status.Should().Be(OutboxMessageStatus.Pending);
            waiting.Attempts.Should().Be(0, "no connection within the connect timeout (half the request timeout) means nothing reached the sink");
            waiting.LastError.Should().BeNull();
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
