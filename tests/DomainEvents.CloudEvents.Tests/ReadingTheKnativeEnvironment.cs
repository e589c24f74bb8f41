using System.Reflection;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.CloudEvents.Tests;

/// <summary>The sink and the source come from the environment a Knative SinkBinding or ContainerSource sets.</summary>
[Category("Integration")]
[NonParallelizable]
public sealed class ReadingTheKnativeEnvironment
{
    private readonly Dictionary<string, string?> _saved = [];

    [TearDown]
    public void RestoreEnvironment()
    {
        foreach (var (name, value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        _saved.Clear();
    }

    [Test]
    public async Task K_SINK_and_K_SOURCE_are_read_from_the_environment()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        SetVariable("K_SINK", sink.Url.ToString());
        SetVariable("K_SOURCE", "/apis/v1/namespaces/shop/sinkbindings/orders");
        await using var host = await RelayHost.CreateAsync();

        await host.PlaceOrderAsync();

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        sink.Delivered.Should().ContainSingle().Which.Source.Should().Be(new Uri("/apis/v1/namespaces/shop/sinkbindings/orders", UriKind.Relative));
    }

    [Test]
    public async Task The_variable_names_are_configurable()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        var sinkVariable = UniqueVariable("SINK");
        var sourceVariable = UniqueVariable("SOURCE");
        SetVariable(sinkVariable, sink.Url.ToString());
        SetVariable(sourceVariable, "https://shop.example/orders");
        await using var host = await RelayHost.CreateAsync(o =>
        {
            o.SinkVariable = sinkVariable;
            o.SourceVariable = sourceVariable;
        });

        await host.PlaceOrderAsync();

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        sink.Delivered.Should().ContainSingle().Which.Source.Should().Be(new Uri("https://shop.example/orders"));
    }

    [Test]
    public async Task An_explicit_SinkUrl_and_Source_override_the_environment()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        var sinkVariable = UniqueVariable("SINK");
        var sourceVariable = UniqueVariable("SOURCE");
        SetVariable(sinkVariable, "http://127.0.0.1:9/nowhere");
        SetVariable(sourceVariable, "/from/the/environment");
        await using var host = await RelayHost.CreateAsync(o =>
        {
            o.SinkVariable = sinkVariable;
            o.SourceVariable = sourceVariable;
            o.SinkUrl = sink.Url;
            o.Source = new Uri("urn:shop:orders");
        });

        await host.PlaceOrderAsync();

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        sink.Delivered.Should().ContainSingle().Which.Source.Should().Be(new Uri("urn:shop:orders"));
    }

    [Test]
    public async Task Without_a_source_the_entry_assembly_names_it()
    {
        var sink = SinkServerFixture.Server.NewChannel();
        await using var host = await RelayHost.CreateAsync(o =>
        {
            o.SinkUrl = sink.Url;
            o.SourceVariable = UniqueVariable("UNSET");
        });

        await host.PlaceOrderAsync();

        await host.WaitForRowAsync(r => r.Status == OutboxMessageStatus.Processed);
        var expected = "urn:domainevents:" + Uri.EscapeDataString(Assembly.GetEntryAssembly()!.GetName().Name!);
        sink.Delivered.Should().ContainSingle().Which.Source.Should().Be(new Uri(expected));
    }

    [Test]
    public async Task Without_K_SINK_or_SinkUrl_starting_the_host_fails_and_says_what_to_set()
    {
        var sinkVariable = UniqueVariable("SINK");
        await using var host = await RelayHost.CreateAsync(o => o.SinkVariable = sinkVariable, start: false);

        var start = () => host.StartAsync();

        var error = (await start.Should().ThrowAsync<SinkNotConfiguredException>()).Which;
        error.SinkVariable.Should().Be(sinkVariable);
        error.Message.Should().Contain($"set the environment variable {sinkVariable}").And.Contain("CloudEventsOptions.SinkUrl");
    }

    [Test]
    public async Task With_K_SINK_unset_the_error_names_K_SINK()
    {
        SetVariable("K_SINK", null);
        await using var host = await RelayHost.CreateAsync(start: false);

        var start = () => host.StartAsync();

        (await start.Should().ThrowAsync<SinkNotConfiguredException>()).Which.Message.Should().Contain("K_SINK");
    }

    [TestCase("not a url")]
    [TestCase("ftp://127.0.0.1/sink")]
    [TestCase("/relative/sink")]
    public async Task A_sink_that_is_not_an_http_url_fails_at_start(string value)
    {
        var sinkVariable = UniqueVariable("SINK");
        SetVariable(sinkVariable, value);
        await using var host = await RelayHost.CreateAsync(o => o.SinkVariable = sinkVariable, start: false);

        var start = () => host.StartAsync();

        (await start.Should().ThrowAsync<SinkNotConfiguredException>()).Which.Value.Should().Be(value);
    }

    [TestCase("ftp://relay:hunter2@sink.example/events?sig=topsecret", "ftp://***@sink.example/events?***")]
    [TestCase("http://relay:hun?ter2@sink.example/events?sig=topsecret", "http://***@sink.example/events?***")]
    public async Task The_start_error_for_an_unusable_sink_shows_no_credentials(string value, string shown)
    {
        var sinkVariable = UniqueVariable("SINK");
        SetVariable(sinkVariable, value);
        await using var host = await RelayHost.CreateAsync(o => o.SinkVariable = sinkVariable, start: false);

        var start = () => host.StartAsync();

        var error = (await start.Should().ThrowAsync<SinkNotConfiguredException>()).Which;
        error.Message.Should().Contain(shown).And.NotContain("hunter2").And.NotContain("ter2").And.NotContain("topsecret");
    }

    [Test]
    public async Task Building_the_host_without_a_sink_succeeds_so_design_time_tools_work()
    {
        await using var host = await RelayHost.CreateAsync(o => o.SinkVariable = UniqueVariable("SINK"), start: false);

        host.Services.GetRequiredService<Model.OrderingDbContext>().Should().NotBeNull();
    }

    [Test]
    public void A_request_timeout_longer_than_the_relay_send_timeout_is_rejected_at_registration()
    {
        var services = new ServiceCollection();
        var builder = services.AddDomainEvents().AddEntityFrameworkOutbox<Model.OrderingDbContext>();

        var register = () => builder.AddCloudEventsHttpRelay(
            o => o.RequestTimeout = TimeSpan.FromSeconds(30),
            r => r.SendTimeout = TimeSpan.FromSeconds(10));

        register.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*RequestTimeout*SendTimeout*");
    }

    [TestCase(10_000, 10_000)]
    [TestCase(9_500, 10_000)]
    public void A_request_timeout_that_would_not_fire_before_the_relay_send_timeout_is_rejected_at_registration(int requestMilliseconds, int sendMilliseconds)
    {
        // The relay's timer starts first: at the same length it would end the send as an outage, which counts no attempt,
        // and a sink that never answers a message would hold its key for ever.
        var services = new ServiceCollection();
        var builder = services.AddDomainEvents().AddEntityFrameworkOutbox<Model.OrderingDbContext>();

        var register = () => builder.AddCloudEventsHttpRelay(
            o => o.RequestTimeout = TimeSpan.FromMilliseconds(requestMilliseconds),
            r => r.SendTimeout = TimeSpan.FromMilliseconds(sendMilliseconds));

        register.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*RequestTimeout*must be shorter than*SendTimeout*at most 00:00:09*");
    }

    [Test]
    public void A_request_timeout_a_tenth_shorter_than_the_relay_send_timeout_is_accepted()
    {
        var services = new ServiceCollection();
        var builder = services.AddDomainEvents().AddEntityFrameworkOutbox<Model.OrderingDbContext>();

        var register = () => builder.AddCloudEventsHttpRelay(o => o.RequestTimeout = TimeSpan.FromSeconds(9), r => r.SendTimeout = TimeSpan.FromSeconds(10));

        register.Should().NotThrow();
    }

    private void SetVariable(string name, string? value)
    {
        _saved.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
    }

    private static string UniqueVariable(string what) => $"DOMAINEVENTS_TEST_{what}_{Guid.NewGuid():N}";
}
