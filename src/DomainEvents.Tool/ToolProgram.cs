using System.Data.Common;
using DomainEvents.EntityFrameworkCore;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.Tool;

/// <summary>
/// <c>domainevents [connection options] outbox|inbox ...</c>: the outbox and inbox commands of DomainEvents.Commands against
/// a connection string, with no application. The connection comes from <c>--connection</c>, the
/// <c>DOMAINEVENTS_CONNECTION</c> environment variable, or an appsettings file (<c>--settings FILE --connection-name NAME</c>).
/// </summary>
internal static class ToolProgram
{
    private const string Usage =
        "usage: domainevents [--connection CS | --settings FILE [--connection-name NAME]] [--provider postgres|sqlite] " +
        "[--schema S] [--outbox-table T] [--inbox-table T] outbox|inbox ... (domainevents outbox --help)";

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var rest = new List<string>();
        string[] ours = ["--connection", "--settings", "--connection-name", "--provider", "--schema", "--outbox-table", "--inbox-table"];
        for (var i = 0; i < args.Length; i++)
        {
            if (ours.Contains(args[i]))
            {
                if (i + 1 >= args.Length)
                {
                    await error.WriteLineAsync($"error: {args[i]} needs a value. {Usage}");
                    return 2;
                }

                options[args[i]] = args[++i];
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        if (rest is ["--help" or "-h"])
        {
            await output.WriteLineAsync(Usage);
            return 0;
        }

        if (rest.Count == 0 || rest[0] is not ("outbox" or "inbox"))
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        var connection = ConnectionString(options, out var problem);
        if (connection is null && DomainEventsCommandsHostExtensions.IsHelpRequest([.. rest]))
        {
            // The commands' help needs no database: they are built on one that is never opened. Only a request that the
            // command line reads as help counts: in `outbox list --key -h`, "-h" is a key, and a database is needed.
            connection = "Data Source=:memory:";
            options["--provider"] = "sqlite";
        }

        if (connection is null)
        {
            await error.WriteLineAsync($"error: {problem} {Usage}");
            return 2;
        }

        DbConnectionStringBuilder given;
        try
        {
            given = new DbConnectionStringBuilder { ConnectionString = connection };
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"error: the connection string cannot be read: {ex.Message}");
            return 2;
        }

        // SQLite's connection strings name a file (Data Source, DataSource or Filename); PostgreSQL's a host.
        var provider = options.GetValueOrDefault("--provider")
                       ?? (given.ContainsKey("Data Source") || given.ContainsKey("DataSource") || given.ContainsKey("Filename") ? "sqlite" : "postgres");
        if (provider is not ("postgres" or "sqlite"))
        {
            await error.WriteLineAsync($"error: --provider is postgres or sqlite, not '{provider}'.");
            return 2;
        }

        if (provider == "sqlite" && !given.ContainsKey("Mode"))
        {
            // The tool works on a database that exists: a mistyped path is an error, not a new empty file.
            try
            {
                connection = new SqliteConnectionStringBuilder(connection) { Mode = SqliteOpenMode.ReadWrite }.ConnectionString;
            }
            catch (ArgumentException ex)
            {
                await error.WriteLineAsync($"error: not a SQLite connection string ({ex.Message}); give --provider postgres for PostgreSQL. {Usage}");
                return 2;
            }
        }

        var tables = new ToolTables(
            options.GetValueOrDefault("--schema"),
            options.GetValueOrDefault("--outbox-table") ?? OutboxModelOptions.DefaultOutboxTable,
            options.GetValueOrDefault("--inbox-table") ?? OutboxModelOptions.DefaultInboxTable);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(tables);
        builder.Services.AddDbContext<ToolDbContext>(o =>
        {
            if (provider == "sqlite")
            {
                o.UseSqlite(connection);
            }
            else
            {
                o.UseNpgsql(connection);
            }
        });
        builder.Services.AddDomainEvents().AddEntityFrameworkOutbox<ToolDbContext>();
        using var host = builder.Build();
        return await host.RunWithDomainEventsCommandsAsync([.. rest]);
    }

    private static string? ConnectionString(Dictionary<string, string> options, out string problem)
    {
        problem = "";
        if (options.TryGetValue("--connection", out var given))
        {
            return given;
        }

        if (options.TryGetValue("--settings", out var file))
        {
            if (!File.Exists(file))
            {
                problem = $"the settings file '{file}' does not exist.";
                return null;
            }

            var settings = new ConfigurationBuilder().AddJsonFile(Path.GetFullPath(file)).Build();
            var name = options.GetValueOrDefault("--connection-name");
            var found = name is not null
                ? settings.GetConnectionString(name)
                : settings.GetSection("ConnectionStrings").GetChildren().Select(c => c.Value).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
            if (found is null)
            {
                problem = name is null ? $"'{file}' has no ConnectionStrings." : $"'{file}' has no ConnectionStrings:{name}.";
            }

            return found;
        }

        if (Environment.GetEnvironmentVariable("DOMAINEVENTS_CONNECTION") is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment;
        }

        problem = "no connection string: give --connection, DOMAINEVENTS_CONNECTION or --settings.";
        return null;
    }
}
