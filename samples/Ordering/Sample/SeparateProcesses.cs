using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Ordering.Sample;

// --separate: Billing and Ordering.Api as two processes of their own, as they would be deployed, on
// PostgreSQL and RabbitMQ. Their output is shown with a prefix; both are stopped at the end.
internal static class SeparateProcesses
{
    public static async Task<bool> RunAsync(SampleSettings settings, TimeSpan timeout)
    {
        var billingDll = Path.Combine(AppContext.BaseDirectory, "Billing.dll");
        var apiDll = ApiAssembly();
        if (!File.Exists(billingDll) || !File.Exists(apiDll))
        {
            Console.Error.WriteLine($"FAILED: build the sample first; looked for {billingDll} and {apiDll}.");
            return false;
        }

        var api = new Uri($"http://127.0.0.1:{FreePort()}/");
        using var billing = Start("billing", billingDll, settings);
        using var ordering = Start("api", apiDll, settings, "--urls", api.ToString().TrimEnd('/'));
        try
        {
            using var startup = new CancellationTokenSource(timeout);
            await Task.WhenAll(billing.Ready.WaitAsync(startup.Token), ordering.Ready.WaitAsync(startup.Token));
            Flow.Step("processes", $"Billing (pid {billing.Process.Id}) and Ordering.Api (pid {ordering.Process.Id}) are ready");
            return await PlaceOrderWalkthrough.RunThroughTheApiAsync(api, settings, timeout);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"FAILED: Billing or Ordering.Api was not ready within {timeout.TotalSeconds:0} s ({settings.Transport}, {settings.Database}).");
            return false;
        }
        catch (ChildExitedException ex)
        {
            Console.Error.WriteLine($"FAILED: {ex.Message}");
            return false;
        }
    }

    // Ordering.Api is built with this sample (a project reference that does not reference its assembly) into its own folder.
    private static string ApiAssembly()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = here.Name;
        var configuration = here.Parent!.Name;
        var samples = here.Parent.Parent!.Parent!.Parent!.FullName;
        return Path.Combine(samples, "Ordering.Api", "bin", configuration, framework, "Ordering.Api.dll");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Child Start(string name, string assembly, SampleSettings settings, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(assembly);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment[SampleSettings.PostgresVariable] = settings.Postgres;
        start.Environment[SampleSettings.RabbitMqVariable] = settings.RabbitMq!.ToString();
        return new Child(name, Process.Start(start)!);
    }

    private sealed class ChildExitedException(string message) : Exception(message);

    private sealed class Child : IDisposable
    {
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Child(string name, Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Show(name, e.Data);
            process.ErrorDataReceived += (_, e) => Show(name, e.Data);
            process.EnableRaisingEvents = true;
            process.Exited += (_, _) => _ready.TrySetException(new ChildExitedException($"{name} exited with code {process.ExitCode} before it was ready."));
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public Task Ready => _ready.Task;

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(TimeSpan.FromSeconds(10));
            }

            Process.Dispose();
        }

        private void Show(string name, string? line)
        {
            if (line is null)
            {
                return;
            }

            Console.WriteLine($"  [{name}] {line}");
            if (line.Contains(" is ready", StringComparison.Ordinal))
            {
                _ready.TrySetResult();
            }
        }
    }
}
