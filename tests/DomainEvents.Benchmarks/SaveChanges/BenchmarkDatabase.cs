using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DomainEvents.Benchmarks.SaveChanges;

/// <summary>
/// A fresh database for one benchmark run: a temporary SQLite file, or a database made with CREATE DATABASE on
/// the PostgreSQL server named by DOMAINEVENTS_TEST_POSTGRES. Dropped (or deleted) on dispose.
/// </summary>
public sealed class BenchmarkDatabase : IAsyncDisposable
{
    public const string PostgresVariable = "DOMAINEVENTS_TEST_POSTGRES";

    private readonly string? _adminConnectionString;
    private readonly string _name;

    private BenchmarkDatabase(DatabaseProvider provider, string connectionString, string name, string? adminConnectionString)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _name = name;
        _adminConnectionString = adminConnectionString;
    }

    public DatabaseProvider Provider { get; }

    public string ConnectionString { get; }

    public static async Task<BenchmarkDatabase> CreateAsync(DatabaseProvider provider)
    {
        if (provider == DatabaseProvider.Sqlite)
        {
            // Pooling stays on (the Microsoft.Data.Sqlite default), as in an application.
            var path = Path.Combine(Path.GetTempPath(), $"domainevents-bench-{Guid.NewGuid():N}.db");
            return new BenchmarkDatabase(provider, $"Data Source={path}", path, adminConnectionString: null);
        }

        var admin = Environment.GetEnvironmentVariable(PostgresVariable);
        if (string.IsNullOrWhiteSpace(admin))
        {
            throw new InvalidOperationException(
                $"The PostgreSQL benchmarks need a server: set {PostgresVariable} to a connection string of a user that may " +
                "CREATE DATABASE (e.g. Host=127.0.0.1;Port=5432;Username=postgres;Password=...;Database=postgres), " +
                "or run `dotnet tool restore && dotnet cake --target=Bench`, which starts one.");
        }

        var name = $"de_bench_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin))
        {
            try
            {
                await connection.OpenAsync();
            }
            catch (NpgsqlException ex)
            {
                var server = new NpgsqlConnectionStringBuilder(admin);
                throw new InvalidOperationException(
                    $"Could not reach the PostgreSQL server named by {PostgresVariable} ({server.Host}:{server.Port}): {ex.Message.TrimEnd('.')}. " +
                    "Start it, or run `dotnet tool restore && dotnet cake --target=Bench`, which starts one.", ex);
            }

            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name };
        return new BenchmarkDatabase(provider, builder.ConnectionString, name, admin);
    }

    public void Configure(DbContextOptionsBuilder options)
    {
        if (Provider == DatabaseProvider.Sqlite)
        {
            options.UseSqlite(ConnectionString);
        }
        else
        {
            options.UseNpgsql(ConnectionString);
        }
    }

    /// <summary>The settings that decide how expensive a commit is, for the record.</summary>
    public async Task<string> DescribeAsync()
    {
        if (Provider == DatabaseProvider.Sqlite)
        {
            await using var sqlite = new SqliteConnection(ConnectionString);
            await sqlite.OpenAsync();
            return $"SQLite {sqlite.ServerVersion}, journal_mode={await ScalarAsync(sqlite, "PRAGMA journal_mode")}, " +
                   $"synchronous={await ScalarAsync(sqlite, "PRAGMA synchronous")} (0=OFF 1=NORMAL 2=FULL), file {_name}";
        }

        await using var postgres = new NpgsqlConnection(ConnectionString);
        await postgres.OpenAsync();
        return $"PostgreSQL {postgres.PostgreSqlVersion}, fsync={await ScalarAsync(postgres, "SHOW fsync")}, " +
               $"synchronous_commit={await ScalarAsync(postgres, "SHOW synchronous_commit")}, " +
               $"full_page_writes={await ScalarAsync(postgres, "SHOW full_page_writes")}, " +
               $"shared_buffers={await ScalarAsync(postgres, "SHOW shared_buffers")}, database {_name}";
    }

    public async ValueTask DisposeAsync()
    {
        if (Provider == DatabaseProvider.Sqlite)
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
            {
                File.Delete(_name + suffix);
            }

            return;
        }

        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_adminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> ScalarAsync(System.Data.Common.DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }
}
