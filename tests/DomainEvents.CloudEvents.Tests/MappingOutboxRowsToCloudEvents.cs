using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using DomainEvents.CloudEvents.Http;
using DomainEvents.EntityFrameworkCore.Relay;

namespace DomainEvents.CloudEvents.Tests;

/// <summary>The mapping shared by every binding, read back with the SDK.</summary>
public sealed class MappingOutboxRowsToCloudEvents
{
    private static readonly Guid MessageId = Guid.Parse("01990f3c-5b2a-7c4e-9a10-3d2f1e0b7a55");
    private static readonly Guid CorrelationId = Guid.Parse("01990f3c-0000-7000-8000-000000000001");
    private static readonly Guid CausationId = Guid.Parse("01990f3c-0000-7000-8000-000000000002");
    private const string Payload = """{"orderId":"01990f3c-5b29-7d01-8f00-1a2b3c4d5e6f","customer":"ada","total":42.5}""";
    private const string TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    private static OutboxEnvelope Envelope(string payload = Payload, string? headers = null) => new(
        Id: 7,
        MessageId: MessageId,
        MessageType: "order.placed",
        Version: 2,
        Exchange: "orders",
        RoutingKey: "order.placed",
        PartitionKey: "Order/01990f3c-5b29-7d01-8f00-1a2b3c4d5e6f",
        Payload: payload,
        Headers: headers ?? $$"""{"correlation-id":"{{CorrelationId}}","causation-id":"{{CausationId}}","traceparent":"{{TraceParent}}","tracestate":"shop=1","baggage":"tenant=eu"}""",
        OccurredAt: new DateTime(2025, 9, 1, 12, 30, 15, 123, DateTimeKind.Utc),
        Attempts: 0);

    [Test]
    public void Structured_mode_is_an_application_cloudevents_json_document_the_SDK_reads_back()
    {
        var mapper = new CloudEventMapper(new Uri("/tests/orders", UriKind.Relative), typeIncludesVersion: false);

        var body = mapper.EncodeStructuredMode(Envelope(), out var contentType);

        contentType.MediaType.Should().Be("application/cloudevents+json");
        var parsed = new JsonEventFormatter().DecodeStructuredModeMessage(body, contentType, SinkServer.Extensions).Validate();
        parsed.Id.Should().Be(MessageId.ToString());
        parsed.Source.Should().Be(new Uri("/tests/orders", UriKind.Relative));
        parsed.Type.Should().Be("order.placed");
        parsed.Subject.Should().Be("Order/01990f3c-5b29-7d01-8f00-1a2b3c4d5e6f");
        parsed.Time.Should().Be(new DateTimeOffset(2025, 9, 1, 12, 30, 15, 123, TimeSpan.Zero));
        parsed.DataContentType.Should().Be("application/json");
        parsed["partitionkey"].Should().Be("Order/01990f3c-5b29-7d01-8f00-1a2b3c4d5e6f");
        parsed["version"].Should().Be(2);
        parsed["traceparent"].Should().Be(TraceParent);
        parsed["tracestate"].Should().Be("shop=1");
        parsed["correlationid"].Should().Be(CorrelationId.ToString());
        parsed["causationid"].Should().Be(CausationId.ToString());
        parsed.GetPopulatedAttributes().Select(a => a.Key.Name).Should().NotContain("baggage");

        using var document = JsonDocument.Parse(body);
        document.RootElement.GetProperty("data").ValueKind.Should().Be(JsonValueKind.Object, "data is JSON, not a string holding JSON");
        document.RootElement.GetProperty("data").GetRawText().Should().Be(Payload);
        document.RootElement.GetProperty("version").ValueKind.Should().Be(JsonValueKind.Number, "version is an integer attribute");
    }

    [Test]
    public void Binary_mode_gives_the_payload_as_the_body_and_every_other_attribute_as_a_string()
    {
        var mapper = new CloudEventMapper(new Uri("urn:shop:orders"), typeIncludesVersion: true);

        var message = mapper.EncodeBinaryMode(Envelope());

        Encoding.UTF8.GetString(message.Data.Span).Should().Be(Payload);
        message.ContentType.Should().Be("application/json");
        message.Attributes.Should().Equal(
            new KeyValuePair<string, string>("specversion", "1.0"),
            new KeyValuePair<string, string>("id", MessageId.ToString()),
            new KeyValuePair<string, string>("source", "urn:shop:orders"),
            new KeyValuePair<string, string>("type", "order.placed.v2"),
            new KeyValuePair<string, string>("subject", "Order/01990f3c-5b29-7d01-8f00-1a2b3c4d5e6f"),
            new KeyValuePair<string, string>("time", "2025-09-01T12:30:15.123Z"),
            new KeyValuePair<string, string>("partitionkey", "Order/01990f3c-5b29-7d01-8f00-1a2b3c4d5e6f"),
            new KeyValuePair<string, string>("version", "2"),
            new KeyValuePair<string, string>("traceparent", TraceParent),
            new KeyValuePair<string, string>("tracestate", "shop=1"),
            new KeyValuePair<string, string>("correlationid", CorrelationId.ToString()),
            new KeyValuePair<string, string>("causationid", CausationId.ToString()));

        // Rebuilt from those strings alone, the event passes the SDK's validation.
        var rebuilt = new CloudEvent(CloudEventsSpecVersion.V1_0, SinkServer.Extensions) { DataContentType = message.ContentType };
        foreach (var (name, value) in message.Attributes.Skip(1))
        {
            rebuilt.SetAttributeFromString(name, value);
        }

        rebuilt.Validate().Type.Should().Be("order.placed.v2");
    }

    [Test]
    public void Stored_headers_that_are_missing_are_left_out()
    {
        var mapper = new CloudEventMapper(new Uri("urn:shop:orders"), typeIncludesVersion: false);

        var cloudEvent = mapper.ToCloudEvent(Envelope(headers: "{}"));

        cloudEvent.GetPopulatedAttributes().Select(a => a.Key.Name).Should().BeEquivalentTo(
            "id", "source", "type", "subject", "time", "datacontenttype", "partitionkey", "version");
    }

    [Test]
    public void A_payload_that_is_not_JSON_is_a_permanent_failure()
    {
        var mapper = new CloudEventMapper(new Uri("urn:shop:orders"), typeIncludesVersion: false);

        var map = () => mapper.ToCloudEvent(Envelope(payload: "{not json"));

        map.Should().Throw<PermanentDeliveryException>().WithMessage("*order.placed*not valid JSON*");
    }

    [Test]
    public void Retry_After_is_read_as_seconds_or_as_an_HTTP_date()
    {
        var now = new DateTimeOffset(2025, 9, 1, 12, 0, 0, TimeSpan.Zero);
        using var seconds = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        seconds.Headers.RetryAfter = RetryConditionHeaderValue.Parse("120");
        using var date = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        date.Headers.TryAddWithoutValidation("Retry-After", "Mon, 01 Sep 2025 12:00:30 GMT");
        using var past = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        past.Headers.TryAddWithoutValidation("Retry-After", "Mon, 01 Sep 2025 11:00:00 GMT");
        using var none = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        using var huge = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        huge.Headers.TryAddWithoutValidation("Retry-After", "99999999");

        CloudEventsHttpTransport.RetryAfterOf(seconds, now).Should().Be(TimeSpan.FromSeconds(120));
        CloudEventsHttpTransport.RetryAfterOf(date, now).Should().Be(TimeSpan.FromSeconds(30));
        CloudEventsHttpTransport.RetryAfterOf(past, now).Should().Be(TimeSpan.Zero);
        CloudEventsHttpTransport.RetryAfterOf(none, now).Should().Be(TimeSpan.Zero);
        CloudEventsHttpTransport.RetryAfterOf(huge, now).Should().Be(CloudEventsHttpTransport.MaxRetryAfter);
    }

    [Test]
    public void The_mapper_takes_its_source_from_the_options()
    {
        var mapper = new CloudEventMapper(new CloudEventsOptions { Source = new Uri("urn:shop:orders"), TypeIncludesVersion = true });

        mapper.Source.Should().Be(new Uri("urn:shop:orders"));
        mapper.TypeOf(Envelope()).Should().Be("order.placed.v2");
    }
}
