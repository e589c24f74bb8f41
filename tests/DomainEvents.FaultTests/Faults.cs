using System.Diagnostics;
using DomainEvents.Testing;

namespace DomainEvents.FaultTests;

/// <summary>
/// Real processes and real outages. Each scenario writes with eight racing writers, and two more in each relay process
/// (whose commits go to that relay directly), while the relay processes publish; it breaks
/// something for longer than the relays' whole back-off schedule (three attempts, at most 1 s apart), and then counts
/// what the witness and the inbox consumer saw: nothing lost, no order broken, no row dead, no effect applied twice.
/// </summary>
[Category("Faults")]
[Category("Integration")]
[NonParallelizable]
public sealed class Faults
{
    private static readonly List<FaultReport> Reports = [];

    /// <summary>Prints the table and keeps it in artifacts/test-results/faults.md, beside the TRX files.</summary>
    [OneTimeTearDown]
    public void PrintTable()
    {
        var table = string.Join("\n", new[] { FaultReport.Header }.Concat(Reports.Select(r => r.ToString())));
        TestContext.Progress.WriteLine(table);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "DomainEvents.sln")))
        {
            root = root.Parent;
        }

        if (root is not null)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root.FullName, "artifacts", "test-results"));
            File.WriteAllText(Path.Combine(folder.FullName, "faults.md"), $"{DateTime.UtcNow:u}\n\n{table}\n");
        }
    }

    [Test]
    public Task No_fault() => RunAsync("no fault", relays: 2, _ => Task.CompletedTask);

    [Test]
    public Task Kill_9_of_a_relay_while_it_sends() =>
        RunAsync("kill -9 of a relay holding leases", relays: 3, async run =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            await run.WaitUntilLeasedByAsync("relay-0", TimeSpan.FromSeconds(20));
            run.KillRelay(run.Relays[0]);
        }, killed: 1);

    [Test]
    public Task Broker_stop_app_for_eight_seconds() =>
        RunAsync("broker stop_app 8 s", relays: 2, _ => BreakTheBrokerAsync("stop_app", "start_app", TimeSpan.FromSeconds(8)));

    [Test]
    public Task Broker_memory_alarm_for_ten_seconds() =>
        RunAsync("broker memory alarm 10 s", relays: 2, _ => BreakTheBrokerAsync("set_vm_memory_high_watermark 0.0001", "set_vm_memory_high_watermark 0.4", TimeSpan.FromSeconds(10)));

    [Test]
    public Task PostgreSQL_restarted_twice_while_the_inbox_consumes() =>
        RunAsync("PostgreSQL restarted twice (3 s down each)", relays: 2, async _ =>
        {
            var restart = Environment.GetEnvironmentVariable("DOMAINEVENTS_TEST_POSTGRES_RESTART");
            if (string.IsNullOrWhiteSpace(restart))
            {
                Assert.Fail("This scenario restarts PostgreSQL: set DOMAINEVENTS_TEST_POSTGRES_RESTART to a command that does (build/servers.sh sets it for the server it starts).");
            }

            for (var i = 0; i < 2; i++)
            {
                await Task.Delay(TimeSpan.FromSeconds(3));
                await ShellAsync("bash", $"-c \"{restart} 3\"");
            }
        });

    private static async Task RunAsync(string scenario, int relays, Func<FaultRun, Task> fault, int killed = 0)
    {
        await using var run = await FaultRun.StartAsync(relays);
        var writing = run.WriteAsync(TimeSpan.FromSeconds(12));
        await fault(run);
        await writing;
        var report = await run.SettleAsync(scenario, TimeSpan.FromSeconds(120));
        Reports.Add(report);
        TestContext.Progress.WriteLine(FaultReport.Header);
        TestContext.Progress.WriteLine(report.ToString());

        var because = $"\n{FaultReport.Header}\n{report}\nwrite errors: {run.WriteErrors.Count}\n{string.Join("\n", run.WriteErrors.Take(5))}\n{run.RelayLogs()}";
        report.Committed.Should().BeGreaterThan(500, "the writers committed events while the fault ran" + because);
        report.Lost.Should().Be(0, "nothing committed is lost" + because);
        report.OrderBreaks.Should().Be(0, "every key's events reach the broker in commit order" + because);
        report.DeadRows.Should().Be(0, "an outage kills no row" + because);
        report.ChargedRows.Should().Be(0, "an outage is not the messages' fault: no row is charged an attempt" + because);
        report.MissingEffects.Should().Be(0, "every event's effect is applied" + because);
        report.DoubleEffects.Should().Be(0, "the inbox applies each effect once" + because);
        report.InErrorQueue.Should().Be(0, "no message ends in the error queue" + because);
        run.Relays.Skip(killed).Should().OnlyContain(r => !r.HasExited, "no relay died of the fault" + because);
    }

    /// <summary>Two seconds into the run, breaks the broker with rabbitmqctl for the given time, then mends it, whatever happens.</summary>
    private static async Task BreakTheBrokerAsync(string breakIt, string mendIt, TimeSpan duration)
    {
        var ctl = Environment.GetEnvironmentVariable("DOMAINEVENTS_TEST_RABBITMQCTL") ?? "rabbitmqctl";
        await Task.Delay(TimeSpan.FromSeconds(2));
        await ShellAsync(ctl, breakIt);
        try
        {
            await Task.Delay(duration);
        }
        finally
        {
            await ShellAsync(ctl, mendIt);
        }
    }

    private static async Task ShellAsync(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            Assert.Fail($"`{file} {arguments}` failed ({process.ExitCode}): {await error}");
        }
    }
}
