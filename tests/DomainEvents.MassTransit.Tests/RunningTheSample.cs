using System.Diagnostics;
using System.Text.RegularExpressions;
using DomainEvents.Testing;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The README's first command: the sample shows one event travel end to end on the embedded default and exits 0; and
/// its documented switch, which runs Ordering.Api and Billing as two processes on PostgreSQL and RabbitMQ.
/// </summary>
public sealed partial class RunningTheSample
{
    [Test]
    public async Task The_ordering_sample_shows_the_event_reach_the_consumer_and_exits_0()
    {
        var (exitCode, text) = await RunAsync([], postgres: null, rabbitMq: null);

        exitCode.Should().Be(0, text);
        text.Should().Contain("SQLite").And.Contain("in-memory transport");
        text.Should().Contain("in-process handler LogOrderPlaced ran");
        text.Should().Contain("message type  order.placed (version 1)");
        text.Should().Contain("OrderPlacedConsumer received order.placed");
        text.Should().Contain("inbox         ").And.Contain("by Billing.OrderPlacedConsumer");
        text.Should().Contain("Done: Order -> handler -> outbox -> relay");
        text.Should().Contain("message type  customer.created (version 1)");
        text.Should().Contain("CustomerReplica applied customer.created: Billing's copy of customer");
        text.Should().Contain("CustomerReplica applied customer.updated: Billing's copy of customer").And.Contain("is now Ada King, Countess of Lovelace");
        text.Should().Contain("Done: Customer saved -> change event in the outbox -> relay -> exchange 'customer' / 'customer.*' -> Billing's replica.");
    }

    [Test]
    public async Task With_separate_the_api_and_billing_run_as_two_processes_on_the_servers_and_both_are_stopped()
    {
        var (exitCode, text) = await RunAsync(["--separate"], TestServers.PostgresConnectionString, TestServers.RabbitMqUri.ToString());

        exitCode.Should().Be(0, text);
        text.Should().Contain("PostgreSQL").And.Contain("RabbitMQ");
        text.Should().Contain("[billing] Billing is ready").And.Contain("[api] Ordering.Api is ready");
        text.Should().MatchRegex(@"client +POST http://127\.0\.0\.1:\d+/orders");
        text.Should().Contain("201 Created, Location /orders/");
        text.Should().MatchRegex(@"\[api\] .*in-process handler LogOrderPlaced ran", "the handler runs in the API's process");
        text.Should().MatchRegex(@"\[billing\] .*OrderPlacedConsumer received order\.placed", "the consumer runs in Billing's process");
        text.Should().Contain("Done: Order -> handler -> outbox -> relay");

        var pids = Pids().Match(text);
        pids.Success.Should().BeTrue(text);
        foreach (var pid in new[] { pids.Groups["billing"].Value, pids.Groups["api"].Value }.Select(int.Parse))
        {
            IsRunning(pid).Should().BeFalse($"the sample stops the process {pid} it started");
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"Billing \(pid (?<billing>\d+)\) and Ordering\.Api \(pid (?<api>\d+)\) are ready")]
    private static partial Regex Pids();

    private static async Task<(int ExitCode, string Output)> RunAsync(string[] arguments, string? postgres, string? rabbitMq)
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var sample = Path.Combine(RepositoryRoot.Path, "samples", "Ordering", "bin", configuration, "net10.0", "Ordering.dll");
        File.Exists(sample).Should().BeTrue($"the solution build produces {sample} (build DomainEvents.sln first)");

        var start = new ProcessStartInfo("dotnet", [sample, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Remove("DOMAINEVENTS_RABBITMQ");
        start.Environment.Remove("DOMAINEVENTS_POSTGRES");
        if (postgres is not null)
        {
            start.Environment["DOMAINEVENTS_POSTGRES"] = postgres;
        }

        if (rabbitMq is not null)
        {
            start.Environment["DOMAINEVENTS_RABBITMQ"] = rabbitMq;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await errors);
    }
}
