using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Ordering.Sample;

// Where the sample's services keep their data and how they reach each other. Shared by the one-process
// walkthrough, Ordering.Api and Billing (linked into each project).
//   --transport inmemory|rabbitmq (DOMAINEVENTS_RABBITMQ, default amqp://guest:guest@127.0.0.1:5672/)
//   --database sqlite|postgres    (DOMAINEVENTS_POSTGRES: a connection string; each service gets its own database)
// A service in a process of its own (Ordering.Api, Billing) needs RabbitMQ to reach the other one.
internal sealed class SampleSettings
{
    public const string RabbitMqVariable = "DOMAINEVENTS_RABBITMQ";
    public const string PostgresVariable = "DOMAINEVENTS_POSTGRES";
    public const string DefaultRabbitMq = "amqp://guest:guest@127.0.0.1:5672/";

    private SampleSettings(Uri? rabbitMq, string? postgres, string? sqliteFolder)
    {
        RabbitMq = rabbitMq;
        Postgres = postgres;
        if (postgres is null)
        {
            SqliteFolder = sqliteFolder ?? Directory.CreateTempSubdirectory("domainevents-ordering-").FullName;
            OwnsSqliteFolder = sqliteFolder is null;
        }
    }

    public Uri? RabbitMq { get; }

    public string? Postgres { get; }

    public string? SqliteFolder { get; }

    private bool OwnsSqliteFolder { get; }

    public string Transport => RabbitMq is null ? "MassTransit in-memory transport" : $"RabbitMQ at {RabbitMq.Host}:{RabbitMq.Port}";

    public string Database => Postgres is null
        ? $"SQLite files in {SqliteFolder}"
        : $"PostgreSQL at {new NpgsqlConnectionStringBuilder(Postgres).Host}, databases domainevents_ordering and domainevents_billing";

    /// <summary>Reads the settings. A service in its own process defaults to RabbitMQ and PostgreSQL.</summary>
    public static SampleSettings? Read(IConfiguration configuration, bool ownProcess, string usage, out string? error)
    {
        error = null;
        var transport = configuration["transport"]?.ToUpperInvariant() ?? (ownProcess ? "RABBITMQ" : "INMEMORY");
        var database = configuration["database"]?.ToUpperInvariant() ?? (ownProcess ? "POSTGRES" : "SQLITE");
        if (transport is not ("INMEMORY" or "RABBITMQ") || database is not ("SQLITE" or "POSTGRES"))
        {
            error = usage;
            return null;
        }

        if (ownProcess && transport == "INMEMORY")
        {
            error = "A service in a process of its own reaches the other one through RabbitMQ; the in-memory transport stays inside one process.";
            return null;
        }

        var postgres = configuration[PostgresVariable];
        if (database == "POSTGRES" && string.IsNullOrWhiteSpace(postgres))
        {
            error = $"PostgreSQL needs {PostgresVariable}, e.g. Host=127.0.0.1;Port=5432;Username=postgres;Password=secret";
            return null;
        }

        var rabbitMq = transport == "RABBITMQ" ? new Uri(configuration[RabbitMqVariable] ?? DefaultRabbitMq) : null;
        return new SampleSettings(rabbitMq, database == "POSTGRES" ? postgres : null, configuration["sqlite-folder"]);
    }

    public bool UsesPostgres => Postgres is not null;

    public void UseDatabase(DbContextOptionsBuilder options, string service)
    {
        if (Postgres is not null)
        {
            options.UseNpgsql(new NpgsqlConnectionStringBuilder(Postgres) { Database = $"domainevents_{service}" }.ConnectionString);
        }
        else
        {
            options.UseSqlite($"Data Source={Path.Combine(SqliteFolder!, service + ".db")}");
        }
    }

    public void CleanUp()
    {
        if (OwnsSqliteFolder && SqliteFolder is not null && Directory.Exists(SqliteFolder))
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(SqliteFolder, recursive: true);
        }
    }
}
