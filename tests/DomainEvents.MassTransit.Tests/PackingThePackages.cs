using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// What `dotnet cake --target=Pack` produces, as a NuGet user meets it: every project under src/ packs into a .nupkg
/// with its metadata and README and a .snupkg with its symbols, and nothing of the tests travels with it.
/// </summary>
public sealed class PackingThePackages
{
    private static readonly string[] Packages =
    [
        "DomainEvents.Abstractions",
        "DomainEvents",
        "DomainEvents.EntityFrameworkCore",
        "DomainEvents.MassTransit",
        "DomainEvents.CloudEvents",
        "DomainEvents.PostgreSql",
        "DomainEvents.Commands",
        "DomainEvents.Tool",
    ];

    private static string? _output;

    [OneTimeSetUp]
    public async Task PackEveryProjectUnderSrc()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        _output = Directory.CreateTempSubdirectory("domainevents-pack-").FullName;
        var projects = Directory.GetFiles(Path.Combine(RepositoryRoot.Path, "src"), "*.csproj", SearchOption.AllDirectories);
        projects.Select(Path.GetFileNameWithoutExtension).Should().BeEquivalentTo(Packages, "every project under src/ is a package, and this test knows each one");
        foreach (var project in projects)
        {
            // No build servers: a reusable MSBuild node that pack starts inherits its standard output and lives on idle for
            // minutes, so the output would never end and this set-up would hang.
            var start = new ProcessStartInfo("dotnet", ["pack", project, "-c", configuration, "--no-build", "--no-restore", "--disable-build-servers", "-o", _output])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = RepositoryRoot.Path,
            };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"dotnet pack {Path.GetFileName(project)} did not end within 2 minutes.");
            }

            // Whatever the process left running, its output is read for at most 30 s more.
            var text = await Task.WhenAll(output, errors).WaitAsync(TimeSpan.FromSeconds(30));
            process.ExitCode.Should().Be(0, $"dotnet pack {Path.GetFileName(project)} (after the solution's {configuration} build) succeeds:\n{text[0]}{text[1]}");
        }
    }

    [OneTimeTearDown]
    public void DeleteThePackages()
    {
        if (_output is not null && Directory.Exists(_output))
        {
            Directory.Delete(_output, recursive: true);
        }
    }

    private static IEnumerable<TestCaseData> Each() => Packages.Select(p => new TestCaseData(p).SetArgDisplayNames(p));

    [TestCaseSource(nameof(Each))]
    public void The_package_carries_its_metadata_readme_and_nothing_of_the_tests(string id)
    {
        var package = Path.Combine(_output!, $"{id}.0.1.0.nupkg");
        File.Exists(package).Should().BeTrue($"{id} is packed as {Path.GetFileName(package)}");
        using var zip = ZipFile.OpenRead(package);
        var entries = zip.Entries.Select(e => e.FullName).ToList();

        var nuspec = XDocument.Load(zip.GetEntry($"{id}.nuspec")!.Open());
        XNamespace ns = nuspec.Root!.GetDefaultNamespace();
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        string? Value(string name) => metadata.Element(ns + name)?.Value;

        Value("id").Should().Be(id);
        Value("description").Should().NotBeNullOrWhiteSpace();
        Value("authors").Should().Be("DomainEvents contributors");
        metadata.Element(ns + "license")?.Attribute("type")?.Value.Should().Be("expression");
        Value("license").Should().Be("Apache-2.0");
        Value("tags").Should().Contain("outbox").And.Contain("domain-events");
        Value("readme").Should().Be("README.md");
        entries.Should().Contain("README.md", "the README the nuspec names is inside the package");
        using (var readme = new StreamReader(zip.GetEntry("README.md")!.Open()))
        {
            readme.ReadToEnd().Should().StartWith($"# {id}\n", "each package has its own README, titled with its id");
        }

        var repository = metadata.Element(ns + "repository");
        repository.Should().NotBeNull("the nuspec names the repository the package was built from");
        repository!.Attribute("type")?.Value.Should().Be("git");
        repository.Attribute("commit")?.Value.Should().Be(Git("rev-parse", "HEAD"), "the package records the commit it was built from");

        var folder = Folder(id);
        if (id == Tool)
        {
            // A .NET tool carries its whole application under tools/, and declares itself a tool.
            entries.Should().Contain([$"{folder}/{id}.dll", $"{folder}/DotnetToolSettings.xml"]).And.NotContain(e => e.StartsWith("lib/", StringComparison.Ordinal));
            metadata.Element(ns + "packageTypes")!.Elements().Select(t => t.Attribute("name")?.Value).Should().Contain("DotnetTool");
        }
        else
        {
            entries.Should().Contain([$"{folder}/{id}.dll", $"{folder}/{id}.xml"], "the assembly travels with its XML docs");
            entries.Where(e => e.StartsWith("lib/", StringComparison.Ordinal)).Should().HaveCount(2, "only the package's own assembly and docs are in lib/");
        }

        entries.Should().NotContain(e => e.Contains("Tests", StringComparison.OrdinalIgnoreCase) || e.Contains("nunit", StringComparison.OrdinalIgnoreCase));

        var dependencies = metadata.Descendants(ns + "dependency").Select(d => (Id: d.Attribute("id")!.Value, Version: d.Attribute("version")!.Value)).ToList();
        dependencies.Should().NotContain(d => d.Id.Contains("Test", StringComparison.OrdinalIgnoreCase) || d.Id == "NUnit" || d.Id == "FluentAssertions");
        foreach (var (dependency, version) in dependencies.Where(d => d.Id.StartsWith("DomainEvents", StringComparison.Ordinal)))
        {
            version.Should().Be("0.1.0", $"{id} depends on {dependency} of the same release");
        }

        using var assembly = new MemoryStream();
        using (var dll = zip.GetEntry($"{folder}/{id}.dll")!.Open())
        {
            dll.CopyTo(assembly);
        }

        assembly.Position = 0;
        using var pe = new PEReader(assembly);
        pe.ReadDebugDirectory().Select(d => d.Type).Should().Contain(DebugDirectoryEntryType.Reproducible, "the build is deterministic");
    }

    [TestCaseSource(nameof(Each))]
    public void The_symbols_package_holds_the_pdb(string id)
    {
        var symbols = Path.Combine(_output!, $"{id}.0.1.0.snupkg");
        File.Exists(symbols).Should().BeTrue($"{id} has a symbols package beside it");
        using var zip = ZipFile.OpenRead(symbols);
        zip.Entries.Select(e => e.FullName).Should().Contain($"{Folder(id)}/{id}.pdb");
    }

    private const string Tool = "DomainEvents.Tool";

    private static string Folder(string id) => id == Tool ? "tools/net10.0/any" : "lib/net10.0";

    private static string Git(params string[] arguments)
    {
        var start = new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, WorkingDirectory = RepositoryRoot.Path };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return output;
    }
}
