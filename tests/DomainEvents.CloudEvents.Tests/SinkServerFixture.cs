namespace DomainEvents.CloudEvents.Tests;

/// <summary>One started sink server for the whole test run; each test takes a channel of its own.</summary>
[SetUpFixture]
public sealed class SinkServerFixture
{
    private static SinkServer? _server;

    public static SinkServer Server => _server ?? throw new InvalidOperationException("The sink server is not started.");

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await SinkServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
