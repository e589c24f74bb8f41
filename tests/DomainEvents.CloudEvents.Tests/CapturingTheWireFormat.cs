using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DomainEvents.EntityFrameworkCore.Outbox;

namespace DomainEvents.CloudEvents.Tests;

/// <summary>
/// The request exactly as it goes over the wire, read from a plain socket rather than through an HTTP server
/// (which would reorder and normalise headers). docs/knative.md shows one such capture.
/// </summary>
[Category("Integration")]
public sealed class CapturingTheWireFormat
{
    [Test]
    public async Task One_event_is_one_POST_with_ce_headers_and_the_payload_as_the_body()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var capture = CaptureOneRequestAsync(listener, timeout.Token);
        await using var host = await RelayHost.CreateAsync(o =>
        {
            o.SinkUrl = new Uri($"http://127.0.0.1:{port}/");
            o.Source = new Uri("/apis/v1/namespaces/shop/sinkbindings/orders", UriKind.Relative);
        });

        using (new Activity("place-order").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            await host.PlaceOrderAsync("ada", 42.5m);
        }

        var (head, body) = await capture;
        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        var row = await host.SingleRowAsync();
        TestContext.Out.WriteLine(head + body);

        var lines = head.Split("\r\n");
        lines[0].Should().Be("POST / HTTP/1.1");
        var headers = lines.Skip(1).TakeWhile(l => l.Length > 0).Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        headers["ce-specversion"].Should().Be("1.0");
        headers["ce-id"].Should().Be(row.MessageId.ToString());
        headers["ce-source"].Should().Be("/apis/v1/namespaces/shop/sinkbindings/orders");
        headers["ce-type"].Should().Be("order.placed");
        headers["ce-subject"].Should().Be(row.PartitionKey);
        headers["ce-partitionkey"].Should().Be(row.PartitionKey);
        headers["ce-version"].Should().Be("2");
        headers["ce-traceparent"].Should().MatchRegex("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$");
        headers["Content-Type"].Should().StartWith("application/json");
        headers["Content-Length"].Should().Be(Encoding.UTF8.GetByteCount(body).ToString());
        body.Should().Be(row.Payload);
    }

    private static async Task<(string Head, string Body)> CaptureOneRequestAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        using var client = await listener.AcceptTcpClientAsync(cancellationToken);
        var stream = client.GetStream();
        var received = new List<byte>();
        var buffer = new byte[4096];
        int headEnd;
        while ((headEnd = IndexOfHeadEnd(received)) < 0)
        {
            var n = await stream.ReadAsync(buffer, cancellationToken);
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var head = Encoding.ASCII.GetString([.. received.Take(headEnd + 4)]);
        var length = int.Parse(head.Split("\r\n").Single(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))["Content-Length:".Length..].Trim());
        while (received.Count < headEnd + 4 + length)
        {
            var n = await stream.ReadAsync(buffer, cancellationToken);
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var body = Encoding.UTF8.GetString([.. received.Skip(headEnd + 4)]);
        await stream.WriteAsync("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), cancellationToken);
        await stream.FlushAsync(cancellationToken);
        return (head, body);
    }

    private static int IndexOfHeadEnd(List<byte> bytes)
    {
        for (var i = 0; i + 3 < bytes.Count; i++)
        {
            if (bytes[i] == '\r' && bytes[i + 1] == '\n' && bytes[i + 2] == '\r' && bytes[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}
