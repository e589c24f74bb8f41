using System.Diagnostics;
using System.Text;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Tests.Model;
using DomainEvents.Messaging;
using DomainEvents.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>
/// The headers column is written as text when there is nothing JSON would escape. Relays and consumers read it as
/// JSON, so it must be exactly what a JSON writer writes for the same headers.
/// </summary>
public sealed class WritingOutboxHeaders
{
    private TestHost _host = null!;
    private AsyncServiceScope _scope;
    private OrderingDbContext _db = null!;
    private OutboxMessageFactory _factory = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _host = await TestHost.StartAsync(DatabaseProvider.Sqlite);
        _scope = _host.Services.CreateAsyncScope();
        _db = _scope.ServiceProvider.GetRequiredService<OrderingDbContext>();
        _factory = _scope.ServiceProvider.GetRequiredService<OutboxMessageFactory>();
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _scope.DisposeAsync();
        await _host.DisposeAsync();
    }

    [Test]
    public void Headers_with_no_message_context_and_no_trace_are_what_a_JSON_writer_writes()
    {
        var row = CreateRow(correlationId: null);

        row.Headers.Should().Be(Expected(("correlation-id", row.MessageId.ToString())));
    }

    [Test]
    public void Headers_with_the_saves_correlation_id_are_what_a_JSON_writer_writes()
    {
        var correlation = Guid.CreateVersion7();

        var row = CreateRow(correlation);

        row.Headers.Should().Be(Expected(("correlation-id", correlation.ToString())));
    }

    [Test]
    public void Headers_with_a_message_context_are_what_a_JSON_writer_writes()
    {
        var incoming = Guid.CreateVersion7();
        var correlation = Guid.CreateVersion7();

        OutboxMessage row;
        using (MessageContext.Begin(incoming, correlation))
        {
            row = CreateRow(correlationId: null);
        }

        row.Headers.Should().Be(Expected(("correlation-id", correlation.ToString()), ("causation-id", incoming.ToString())));
    }

    [Test]
    public void Headers_with_a_trace_parent_only_are_what_a_JSON_writer_writes()
    {
        using var activity = new Activity("save").SetIdFormat(ActivityIdFormat.W3C).Start();

        var row = CreateRow(correlationId: null);

        row.Headers.Should().Be(Expected(("correlation-id", row.MessageId.ToString()), ("traceparent", activity.Id!)));
    }

    [Test]
    public void Headers_with_trace_state_and_baggage_that_need_escaping_are_what_a_JSON_writer_writes()
    {
        using var activity = new Activity("save").SetIdFormat(ActivityIdFormat.W3C);
        activity.TraceStateString = "vendor=a+b<c>";
        activity.AddBaggage("tenant", "acme & co");
        activity.Start();

        var row = CreateRow(correlationId: null);

        row.Headers.Should().Be(Expected(
            ("correlation-id", row.MessageId.ToString()),
            ("traceparent", activity.Id!),
            ("tracestate", "vendor=a+b<c>"),
            ("baggage", "tenant=acme%20%26%20co")));
    }

    private OutboxMessage CreateRow(Guid? correlationId)
    {
        var invoice = Invoice.Number("2026-0100", 1m);
        _db.Invoices.Add(invoice);
        return _factory.Create(_db.Entry(invoice), (IIntegrationEvent)invoice.DomainEvents[0], correlationId, []);
    }

    private static string Expected(params (string Name, string Value)[] headers)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in headers)
            {
                if (Guid.TryParse(value, out var guid))
                {
                    writer.WriteString(name, guid);
                }
                else
                {
                    writer.WriteString(name, value);
                }
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
