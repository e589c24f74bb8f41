using System.Diagnostics;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Runs tests/node-consumer with node, installing its packages with <c>npm ci</c> when they are missing.</summary>
public static class NodeConsumer
{
    public sealed record Run(int ExitCode, string Output, string Errors);

    /// <summary>Finds the script and makes sure node_modules is there; fails the test with what to install otherwise.</summary>
    public static async Task<string> PrepareAsync()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "DomainEvents.sln")))
        {
            root = root.Parent;
        }

        root.Should().NotBeNull("the tests run from inside the repository");
        var folder = Path.Combine(root!.FullName, "tests", "node-consumer");
        var node = await RunProcessAsync("node", ["--version"], folder, null, TimeSpan.FromSeconds(30));
        if (node is null || node.ExitCode != 0)
        {
            Assert.Fail("This test runs a Node.js consumer: install Node.js 20 or later with npm (Debian: apt-get install nodejs npm) so `node` is on PATH.");
        }

        if (!Directory.Exists(Path.Combine(folder, "node_modules", "amqplib")) || !Directory.Exists(Path.Combine(folder, "node_modules", "cloudevents")))
        {
            var npm = await RunProcessAsync("npm", ["ci", "--no-audit", "--no-fund"], folder, null, TimeSpan.FromMinutes(5));
            if (npm is null)
            {
                Assert.Fail($"This test needs the npm packages of {folder} and npm is not on PATH: install npm (Debian: apt-get install npm), or run `npm ci` in that folder.");
            }

            if (npm!.ExitCode != 0)
            {
                Assert.Fail($"`npm ci` in {folder} failed ({npm.ExitCode}): {npm.Errors}{npm.Output}");
            }
        }

        return Path.Combine(folder, "consumer.js");
    }

    public static async Task<Run> RunAsync(string script, Dictionary<string, string> environment) =>
        await RunProcessAsync("node", [script], Path.GetDirectoryName(script)!, environment, TimeSpan.FromSeconds(90))
        ?? throw new InvalidOperationException("node is not on PATH.");

    private static async Task<Run?> RunProcessAsync(string file, string[] arguments, string workingDirectory, Dictionary<string, string>? environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        Process? process;
        try
        {
            process = Process.Start(start);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }

        using (process)
        {
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"`{file} {string.Join(' ', arguments)}` did not finish within {timeout}: {await errors}");
            }

            return new Run(process.ExitCode, (await output).Trim(), await errors);
        }
    }
}
