using System.Diagnostics;

namespace DomainEvents.MassTransit.Tests;

/// <summary>The README's first command: the sample shows one event travel end to end on the embedded default and exits 0.</summary>
public sealed class RunningTheSample
{
    [Test]
    public async Task The_ordering_sample_shows_the_event_reach_the_consumer_and_exits_0()
    {
        var testDirectory = AppContext.BaseDirectory;
        var root = new DirectoryInfo(testDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "DomainEvents.sln")))
        {
            root = root.Parent;
        }

        root.Should().NotBeNull("the tests run from inside the repository");
        var configuration = testDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var sample = Path.Combine(root!.FullName, "samples", "Ordering", "bin", configuration, "net10.0", "Ordering.dll");
        File.Exists(sample).Should().BeTrue($"the solution build produces {sample} (build DomainEvents.sln first)");

        var start = new ProcessStartInfo("dotnet", [sample]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Remove("DOMAINEVENTS_RABBITMQ");
        start.Environment.Remove("DOMAINEVENTS_POSTGRES");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);

        var text = await output;
        process.ExitCode.Should().Be(0, text + await errors);
        text.Should().Contain("SQLite").And.Contain("in-memory transport");
        text.Should().Contain("in-process handler LogOrderPlaced ran");
        text.Should().Contain("message type  order.placed (version 1)");
        text.Should().Contain("OrderPlacedConsumer received order.placed");
        text.Should().Contain("Done: Order -> handler -> outbox -> relay");
    }
}
