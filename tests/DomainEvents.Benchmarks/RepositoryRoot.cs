namespace DomainEvents.Benchmarks;

/// <summary>Finds the repository root: the nearest folder upwards that holds DomainEvents.sln.</summary>
public static class RepositoryRoot
{
    public const string SolutionFile = "DomainEvents.sln";

    public static string Find()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, SolutionFile)))
                {
                    return directory.FullName;
                }
            }
        }

        throw new InvalidOperationException(
            $"Could not find {SolutionFile} above {Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory}; " +
            "run the benchmarks from inside the repository: dotnet run -c Release --project tests/DomainEvents.Benchmarks -- --filter '*'");
    }
}
