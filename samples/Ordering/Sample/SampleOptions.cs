using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Ordering.Sample;

// --transport inmemory|rabbitmq (DOMAINEVENTS_RABBITMQ, default amqp://guest:guest@127.0.0.1:5672/)
// --database sqlite|postgres   (DOMAINEVENTS_POSTGRES: a connection string; each service gets its own database)
public sealed class SampleOptions
{
    public const string RabbitMqVariable = "DOMAINEVENTS_RABBITMQ";
    public const string PostgresVariable = "DOMAINEVENTS_POSTGRES";
    public const string DefaultRabbitMq = "amqp://guest:guest@127.0.0.1:5672/";

    private SampleOptions(Uri? rabbitMq, string? postgres)
    {
        RabbitMq = rabbitMq;
        Postgres = postgres;
        if (postgres is null)
        {
            SqliteFolder = Directory.CreateTempSubdirectory("domainevents-ordering-").FullName;
        }
    }

    public Uri? RabbitMq { get; }

    public string? Postgres { get; }

    public string? SqliteFolder { get; }

    public string Transport => RabbitMq is null ? "MassTransit in-memory transport" : $"RabbitMQ at {RabbitMq.Host}:{RabbitMq.Port}";

    public string Database => Postgres is null
        ? $"SQLite files in {SqliteFolder}"
        : $"PostgreSQL at {new NpgsqlConnectionStringBuilder(Postgres).Host}, databases domainevents_ordering and domainevents_billing";

    public static SampleOptions? Read(IConfiguration configuration, out string? error)
    {
        error = null;
        var transport = configuration["transport"]?.ToUpperInvariant() ?? "INMEMORY";
        var database = configuration["database"]?.ToUpperInvariant() ?? "SQLITE";
        if (transport is not ("INMEMORY" or "RABBITMQ") || database is not ("SQLITE" or "POSTGRES"))
        {
            error = "usage: dotnet run --project samples/Ordering [-- [--transport inmemory|rabbitmq] [--database sqlite|postgres]]";
            return null;
        }

        var postgres = configuration[PostgresVariable];
        if (database == "POSTGRES" && string.IsNullOrWhiteSpace(postgres))
        {
            error = $"--database postgres needs {PostgresVariable}, e.g. Host=127.0.0.1;Port=5432;Username=postgres;Password=secret";
            return null;
        }

        var rabbitMq = transport == "RABBITMQ" ? new Uri(configuration[RabbitMqVariable] ?? DefaultRabbitMq) : null;
        return new SampleOptions(rabbitMq, database == "POSTGRES" ? postgres : null);
    }

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
        if (SqliteFolder is not null && Directory.Exists(SqliteFolder))
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(SqliteFolder, recursive: true);
        }
    }
}
