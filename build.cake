// DomainEvents build script (Cake 7). Run with:  dotnet tool restore && dotnet cake --target=<Target>
//
// Targets:
//   Clean    delete build output (bin/obj) and artifacts/ (except the server state in artifacts/servers)
//   Restore  dotnet restore DomainEvents.sln
//   Build    Release build of the solution (after Restore)
//   Test     (default) start PostgreSQL + RabbitMQ with build/servers.sh, run every test project one
//            after the other (the fault suite last: it stops the broker and restarts PostgreSQL) with
//            DOMAINEVENTS_TEST_POSTGRES / DOMAINEVENTS_TEST_RABBITMQ set, write TRX files to
//            artifacts/test-results, stop the servers again
//   Pack     dotnet pack every project under src/ into artifacts/packages (after Build)
//   Bench    run tests/DomainEvents.Benchmarks with the servers up; extra BenchmarkDotNet arguments
//            through --bench-args="--job short" (a --filter there replaces the default '*')
//
// Servers: build/servers.sh start/stop. If servers started by an earlier "build/servers.sh start" are
// still running when Test or Bench begins, they are reused and left running afterwards.

var target        = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var benchArgs     = Argument("bench-args", string.Empty);

var root          = MakeAbsolute(Directory("./"));
var solution      = root.CombineWithFilePath("DomainEvents.sln");
var artifacts     = root.Combine("artifacts");
var testResults   = artifacts.Combine("test-results");
var packages      = artifacts.Combine("packages");
var serversScript = root.CombineWithFilePath("build/servers.sh");
var serversEnv    = artifacts.CombineWithFilePath("servers/env.sh");
var benchProject  = root.CombineWithFilePath("tests/DomainEvents.Benchmarks/DomainEvents.Benchmarks.csproj");
var relayBenchProject = root.CombineWithFilePath("tests/DomainEvents.RelayBenchmarks/DomainEvents.RelayBenchmarks.csproj");
var relayBenchArgs = Argument("relay-bench-args", "");

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

int RunServersScript(string command)
{
    return StartProcess("bash", new ProcessSettings
    {
        Arguments = new ProcessArgumentBuilder().AppendQuoted(serversScript.FullPath).Append(command),
        WorkingDirectory = root,
    });
}

// Reads the "export NAME='value'" lines that build/servers.sh writes. Understands the shell quoting
// it uses: single quotes, double quotes and backslash escapes outside quotes ('\'' included).
Dictionary<string, string> ReadServerEnvironment(FilePath file)
{
    var result = new Dictionary<string, string>(StringComparer.Ordinal);
    foreach (var raw in System.IO.File.ReadAllLines(file.FullPath))
    {
        var line = raw.Trim();
        if (!line.StartsWith("export ", StringComparison.Ordinal)) continue;
        line = line.Substring("export ".Length).TrimStart();
        var eq = line.IndexOf('=');
        if (eq <= 0) continue;
        var name = line.Substring(0, eq);
        var rest = line.Substring(eq + 1);
        var value = new System.Text.StringBuilder();
        for (var i = 0; i < rest.Length; i++)
        {
            var c = rest[i];
            if (c == '\'')
            {
                var end = rest.IndexOf('\'', i + 1);
                if (end < 0) throw new CakeException($"Unterminated quote in {file}: {raw}");
                value.Append(rest, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                for (i++; i < rest.Length && rest[i] != '"'; i++)
                {
                    if (rest[i] == '\\' && i + 1 < rest.Length && "\"\\$`".IndexOf(rest[i + 1]) >= 0) i++;
                    value.Append(rest[i]);
                }
            }
            else if (c == '\\' && i + 1 < rest.Length)
            {
                value.Append(rest[++i]);
            }
            else if (char.IsWhiteSpace(c) || c == '#')
            {
                break;
            }
            else
            {
                value.Append(c);
            }
        }
        result[name] = value.ToString();
    }
    return result;
}

// Starts the servers, runs the action with their connection settings, and always stops what was
// started (servers already running from an earlier "build/servers.sh start" are left running).
void WithServers(Action<IDictionary<string, string>> action)
{
    if (!IsRunningOnUnix())
    {
        throw new CakeException("build/servers.sh needs bash on Linux/macOS. Set DOMAINEVENTS_TEST_POSTGRES and DOMAINEVENTS_TEST_RABBITMQ and run dotnet test yourself.");
    }

    var alreadyRunning = RunServersScript("status") == 0;
    if (alreadyRunning)
    {
        Information("Servers from an earlier 'build/servers.sh start' are running; reusing them and leaving them running.");
    }

    try
    {
        var code = RunServersScript("start");
        if (code != 0) throw new CakeException($"build/servers.sh start failed with exit code {code}.");

        var environment = ReadServerEnvironment(serversEnv);
        foreach (var pair in environment) Information("{0}={1}", pair.Key, pair.Value);
        action(environment);
    }
    finally
    {
        if (!alreadyRunning)
        {
            var code = RunServersScript("stop");
            if (code != 0) Warning("build/servers.sh stop failed with exit code {0}.", code);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Tasks
// ------------------------------------------------------------------------------------------------

Task("Clean")
    .Does(() =>
{
    var deleteSettings = new DeleteDirectorySettings { Recursive = true, Force = true };
    foreach (var dir in new[] { "src", "tests", "samples" })
    {
        DeleteDirectories(GetDirectories($"./{dir}/**/bin"), deleteSettings);
        DeleteDirectories(GetDirectories($"./{dir}/**/obj"), deleteSettings);
    }
    // Keep artifacts/servers: it records which servers build/servers.sh has to stop.
    foreach (var dir in GetDirectories($"{artifacts.FullPath}/*"))
    {
        if (dir.GetDirectoryName() == "servers") continue;
        DeleteDirectory(dir, deleteSettings);
    }
});

Task("Restore")
    .Does(() =>
{
    DotNetRestore(solution.FullPath);
});

Task("Build")
    .IsDependentOn("Restore")
    .Does(() =>
{
    DotNetBuild(solution.FullPath, new DotNetBuildSettings
    {
        Configuration = configuration,
        NoRestore = true,
    });
});

Task("NodeConsumer")
    .Description("Installs the Node.js test consumer's packages (amqplib, cloudevents) from the lock file.")
    .Does(() =>
{
    var folder = MakeAbsolute(Directory("./tests/node-consumer"));
    var exitCode = StartProcess("npm", new ProcessSettings
    {
        Arguments = "ci --no-audit --no-fund",
        WorkingDirectory = folder,
    });
    if (exitCode != 0)
    {
        throw new Exception($"npm ci failed in {folder} (exit code {exitCode}). Node.js 18+ and npm are needed for the cross-language tests.");
    }
});

Task("Test")
    .IsDependentOn("Build")
    .IsDependentOn("NodeConsumer")
    .Does(() =>
{
    EnsureDirectoryExists(testResults);
    CleanDirectory(testResults);

    // One test project at a time: the fault suite stops the broker and restarts PostgreSQL, which must not happen
    // under another project's tests, and the machine has two cores. The fault suite runs last.
    var projects = GetFiles("./tests/**/*.Tests.csproj").OrderBy(p => p.FullPath, StringComparer.Ordinal).ToList();
    projects.Add(root.CombineWithFilePath("tests/DomainEvents.FaultTests/DomainEvents.FaultTests.csproj"));
    WithServers(environment =>
    {
        var failed = new List<string>();
        foreach (var project in projects)
        {
            try
            {
                DotNetTest(project.FullPath, new DotNetTestSettings
                {
                    Configuration = configuration,
                    NoBuild = true,
                    NoRestore = true,
                    Loggers = { "trx;LogFilePrefix=results", "console;verbosity=minimal" },
                    ResultsDirectory = testResults,
                    EnvironmentVariables = environment,
                    ArgumentCustomization = args => args.Append("--blame-hang-timeout").Append("5m"),
                });
            }
            catch (Exception ex)
            {
                failed.Add($"{project.GetFilenameWithoutExtension()}: {ex.Message}");
            }
        }

        if (failed.Count > 0)
        {
            throw new CakeException("Tests failed:\n" + string.Join("\n", failed));
        }
    });
});

Task("Pack")
    .IsDependentOn("Build")
    .Does(() =>
{
    EnsureDirectoryExists(packages);
    CleanDirectory(packages);
    foreach (var project in GetFiles("./src/**/*.csproj"))
    {
        DotNetPack(project.FullPath, new DotNetPackSettings
        {
            Configuration = configuration,
            NoBuild = true,
            NoRestore = true,
            OutputDirectory = packages,
        });
    }
});

Task("Bench")
    .Does(() =>
{
    var args = new ProcessArgumentBuilder();
    var extra = benchArgs.Trim();
    // BenchmarkDotNet takes a single --filter option: only add the default when none is given.
    var hasFilter = System.Text.RegularExpressions.Regex.IsMatch(extra, @"(^|\s)(--filter|-f)(\s|=|$)");
    if (!hasFilter) args.Append("--filter").Append("*");
    if (extra.Length > 0) args.Append(extra);

    WithServers(environment =>
    {
        DotNetRun(benchProject.FullPath, args, new DotNetRunSettings
        {
            Configuration = configuration,
            EnvironmentVariables = environment,
        });

        // The relay's throughput and latency against MassTransit and RabbitMQ.Client baselines, same run.
        DotNetRun(relayBenchProject.FullPath, new ProcessArgumentBuilder().Append(relayBenchArgs), new DotNetRunSettings
        {
            Configuration = configuration,
            EnvironmentVariables = environment,
        });
    });
});

Task("Default")
    .IsDependentOn("Test");

RunTarget(target);
