using System.Diagnostics;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// This program started again as another process of a measurement (--writer, --replica): a service of its own, with its
/// own DI container, connection pool and threads. Reads its standard output line by line and can write to its input.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _errors;

    private ChildProcess(Process process)
    {
        _process = process;
        _errors = process.StandardError.ReadToEndAsync();
    }

    /// <summary>The run's <c>--experiment</c>, passed on to a second process so that it runs under the same settings.</summary>
    public static IReadOnlyList<string> ExperimentArguments { get; set; } = [];

    public static ChildProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment)
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("No process path to start a second process with.");
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (string.Equals(Path.GetFileNameWithoutExtension(path), "dotnet", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return new ChildProcess(Process.Start(start) ?? throw new InvalidOperationException("The second process did not start."));
    }

    /// <summary>The lines it writes until one equal to <paramref name="marker"/> (not included), or until it exits when <paramref name="marker"/> is null.</summary>
    public async Task<List<string>> ReadUntilAsync(string? marker, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var lines = new List<string>();
        while (true)
        {
            string? line;
            try
            {
                line = await _process.StandardOutput.ReadLineAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The second process wrote no '{marker ?? "end"}' within {timeout.TotalSeconds:N0} s.");
            }

            if (line is null)
            {
                if (marker is null)
                {
                    await _process.WaitForExitAsync(cancel.Token);
                    if (_process.ExitCode == 0)
                    {
                        return lines;
                    }
                }

                await _process.WaitForExitAsync(CancellationToken.None);
                var errors = (await _errors).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                throw new InvalidOperationException($"The second process exited with {_process.ExitCode}: {string.Join(" | ", errors.Take(6))}");
            }

            if (line == marker)
            {
                return lines;
            }

            lines.Add(line);
        }
    }

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        // A second process stops on its own once it has said all it had to; one that does not, or an error here, ends it.
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
