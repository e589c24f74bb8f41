using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;

namespace DomainEvents.Benchmarks;

/// <summary>
/// The default BenchmarkDotNet config (which exports GitHub markdown, CSV and HTML) plus JSON, allocations, and a
/// short job; reports go to artifacts/bench at the repository root.
/// </summary>
public static class BenchmarkConfig
{
    /// <summary>3 warm-up and 10 measured iterations: the whole suite runs in about five minutes on two cores.</summary>
    public static readonly Job ShortJob = Job.Default.WithWarmupCount(3).WithIterationCount(10).AsDefault();

    /// <summary>Builds the config.</summary>
    /// <param name="repositoryRoot">Where artifacts/bench goes.</param>
    /// <param name="args">
    /// The command line. When it names a job (<c>--job Dry</c> for a smoke run, <c>--job Short</c>, ...) that job
    /// is used instead of <see cref="ShortJob"/>: BenchmarkDotNet ignores <c>--job</c> when the config has a default job.
    /// </param>
    public static IConfig Create(string repositoryRoot, IReadOnlyList<string> args)
    {
        var config = DefaultConfig.Instance
            .WithArtifactsPath(Path.Combine(repositoryRoot, "artifacts", "bench"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(JsonExporter.Full);
        var namesJob = args.Any(a => a is "--job" or "-j" || a.StartsWith("--job=", StringComparison.Ordinal));
        return namesJob ? config : config.AddJob(ShortJob);
    }
}
