using BenchmarkDotNet.Running;
using DomainEvents.Benchmarks;

// Runs the benchmarks chosen by the arguments (e.g. --filter '*'); results go to artifacts/bench at the
// repository root. Exits non-zero when any benchmark case failed, so a missing server is never a silent pass.
var config = BenchmarkConfig.Create(RepositoryRoot.Find(), args);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args, config).ToList();

var failed = summaries
    .SelectMany(summary => summary.Reports)
    .Where(report => !report.Success)
    .Select(report => report.BenchmarkCase.DisplayInfo)
    .ToList();
var invalid = summaries.Where(summary => summary.HasCriticalValidationErrors).ToList();
if (failed.Count == 0 && invalid.Count == 0)
{
    return 0;
}

Console.Error.WriteLine();
foreach (var summary in invalid)
{
    foreach (var error in summary.ValidationErrors.Where(e => e.IsCritical))
    {
        Console.Error.WriteLine($"Benchmark validation failed: {error.Message}");
    }
}

foreach (var name in failed)
{
    Console.Error.WriteLine($"Benchmark failed: {name} (see the log above for the exception)");
}

return 1;
