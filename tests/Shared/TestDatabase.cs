using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DomainEvents.Testing;

public enum DatabaseProvider
{
    Sqlite,
    PostgreSql,
}

/// <summary>A fresh database for one fixture: a temporary SQLite file, or a new database on the test PostgreSQL server.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(DatabaseProvider provider, string connectionString, string? databaseName)
    {
        Provider = provider;
        ConnectionString = connectionString;
        DatabaseName = databaseName;
    }

    public DatabaseProvider Provider { get; }

    public string ConnectionString { get; }

    private string? DatabaseName { get; }

    public static async Task<TestDatabase> CreateAsync(DatabaseProvider provider)
    {
        if (provider == DatabaseProvider.Sqlite)
        {
            var path = Path.Combine(Path.GetTempPath(), $"domainevents-{Guid.NewGuid():N}.db");
            return new TestDatabase(provider, $"Data Source={path};Pooling=False", path);
        }

        var name = $"de_{Guid.NewGuid():N}";
        var admin = new NpgsqlConnectionStringBuilder(TestServers.PostgresConnectionString);
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        admin.Database = name;
        admin.MaxPoolSize = 50;
        return new TestDatabase(provider, admin.ConnectionString, name);
    }

    public void Configure(DbContextOptionsBuilder options, Action<Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure.NpgsqlDbContextOptionsBuilder>? npgsql = null)
    {
        if (Provider == DatabaseProvider.Sqlite)
        {
            options.UseSqlite(ConnectionString);
        }
        else
        {
            options.UseNpgsql(ConnectionString, npgsql);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Provider == DatabaseProvider.Sqlite)
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(DatabaseName + suffix);
            }

            return;
        }

        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(TestServers.PostgresConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
