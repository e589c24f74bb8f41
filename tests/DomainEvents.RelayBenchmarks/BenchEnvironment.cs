using System.Globalization;
using Npgsql;
using RabbitMQ.Client;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// The servers and the names one run uses: two fresh PostgreSQL databases (the producing service's and the consuming
/// service's) and RabbitMQ exchanges and queues whose names carry the run id, all removed at the end.
/// </summary>
public sealed class BenchEnvironment : IAsyncDisposable
{
    public const string PostgresVariable = "DOMAINEVENTS_TEST_POSTGRES";
    public const string RabbitMqVariable = "DOMAINEVENTS_TEST_RABBITMQ";

    private readonly string _adminConnectionString;
    private readonly List<string> _databases = [];
    private readonly HashSet<string> _queues = new(StringComparer.Ordinal);
    private readonly HashSet<string> _exchanges = new(StringComparer.Ordinal);

    private BenchEnvironment(string adminConnectionString, Uri rabbitUri, string runId)
    {
        _adminConnectionString = adminConnectionString;
        RabbitUri = rabbitUri;
        RunId = runId;
    }

    public string RunId { get; }

    public Uri RabbitUri { get; }

    public string ShopConnectionString { get; private set; } = "";

    public string BillingConnectionString { get; private set; } = "";

    /// <summary>A NOTIFY channel of this run only, so other people's relays on the same server neither wake ours nor are woken.</summary>
    public string NotifyChannel => $"relaybench_{RunId}";

    public static string Require(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"Set {variable} (source artifacts/servers/env.sh after build/servers.sh start, or run `dotnet cake --target=Bench`).");

    public static async Task<BenchEnvironment> CreateAsync()
    {
        var runId = Guid.NewGuid().ToString("N")[..10];
        var environment = new BenchEnvironment(Require(PostgresVariable), new Uri(Require(RabbitMqVariable)), runId);
        environment.ShopConnectionString = await environment.CreateDatabaseAsync($"relaybench_{runId}_shop");
        environment.BillingConnectionString = await environment.CreateDatabaseAsync($"relaybench_{runId}_billing");
        return environment;
    }

    /// <summary>
    /// The environment of a run that another process created, for a second process of a measurement: the same names, the
    /// producing service's database only. It creates nothing, and the process that created the run removes everything.
    /// </summary>
    public static BenchEnvironment Attach(string runId, string shopConnectionString) =>
        new(Require(PostgresVariable), new Uri(Require(RabbitMqVariable)), runId) { ShopConnectionString = shopConnectionString };

    /// <summary>A name unique to this run; queues and exchanges named here are deleted at the end.</summary>
    public string Name(string purpose) => $"relaybench-{RunId}-{purpose}";

    public string Exchange(string purpose)
    {
        var name = Name(purpose);
        _exchanges.Add(name);
        return name;
    }

    /// <summary>A queue; for a MassTransit receive endpoint also the exchange of the same name and its _error and _skipped queues.</summary>
    public string Queue(string purpose, bool massTransitEndpoint = false)
    {
        var name = Name(purpose);
        _queues.Add(name);
        if (massTransitEndpoint)
        {
            _exchanges.Add(name);
            foreach (var suffix in new[] { "_error", "_skipped" })
            {
                _queues.Add(name + suffix);
                _exchanges.Add(name + suffix);
            }
        }

        return name;
    }

    public async Task<IConnection> ConnectRabbitAsync(string purpose)
    {
        var factory = new ConnectionFactory { Uri = RabbitUri, ClientProvidedName = $"relaybench-{RunId}-{purpose}" };
        return await factory.CreateConnectionAsync();
    }

    public async Task<long> CountAsync(string table, string? where = null, bool billing = false)
    {
        await using var connection = new NpgsqlConnection(billing ? BillingConnectionString : ShopConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM {table}{(where is null ? "" : " WHERE " + where)}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ShopConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task ExecuteAsync(string sql, bool billing = false)
    {
        await using var connection = new NpgsqlConnection(billing ? BillingConnectionString : ShopConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The server settings that matter for these figures.</summary>
    public async Task<Dictionary<string, string>> PostgresSettingsAsync()
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var connection = new NpgsqlConnection(ShopConnectionString);
        await connection.OpenAsync();
        foreach (var name in new[] { "server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections", "wal_level" })
        {
            await using var command = new NpgsqlCommand($"SHOW {name}", connection);
            settings[name] = (string)(await command.ExecuteScalarAsync())!;
        }

        return settings;
    }

    public async Task<Dictionary<string, string>> RabbitSettingsAsync()
    {
        await using var connection = await ConnectRabbitAsync("probe");
        var properties = connection.ServerProperties ?? new Dictionary<string, object?>();
        string Text(string key) => properties.TryGetValue(key, out var value) && value is byte[] bytes ? System.Text.Encoding.UTF8.GetString(bytes) : value?.ToString() ?? "";
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["product"] = Text("product"),
            ["version"] = Text("version"),
            ["erlang"] = Text("platform"),
        };
    }

    private async Task<string> CreateDatabaseAsync(string name)
    {
        await using (var connection = new NpgsqlConnection(_adminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        _databases.Add(name);
        var builder = new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = name, MaxPoolSize = Experiments.MaxPoolSize ?? 100 };
        if (Experiments.AutoPrepare)
        {
            builder.MaxAutoPrepare = 16;
        }

        builder.NoResetOnClose = Experiments.NoResetOnClose;

        return builder.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        // Other people's tests may restart the broker: try again for a while before giving up.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await ConnectRabbitAsync("cleanup");
                await using var channel = await connection.CreateChannelAsync();
                foreach (var queue in _queues)
                {
                    await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
                }

                foreach (var exchange in _exchanges)
                {
                    await channel.ExchangeDeleteAsync(exchange, ifUnused: false);
                }

                break;
            }
            catch (Exception ex) when (attempt < 6)
            {
                Console.Error.WriteLine($"Deleting the queues and exchanges of run {RunId} failed ({ex.Message}); retrying in 10 s.");
                await Task.Delay(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"Could not delete every queue and exchange of run {RunId} (relaybench-{RunId}-*): {ex.Message}");
                break;
            }
        }

        NpgsqlConnection.ClearAllPools();
        foreach (var database in _databases)
        {
            try
            {
                await using var connection = new NpgsqlConnection(_adminConnectionString);
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection);
                await command.ExecuteNonQueryAsync();
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"Could not drop database {database}: {ex.Message}");
            }
        }
    }

    public static string Format(double value, int decimals = 0) => value.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
