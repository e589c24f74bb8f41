namespace DomainEvents.MassTransit.Tests;

/// <summary>The checkout these tests were built from: the folder above the test binaries that holds DomainEvents.sln.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(System.IO.Path.Combine(directory.FullName, "DomainEvents.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("DomainEvents.sln not found above " + AppContext.BaseDirectory);
    }
}
