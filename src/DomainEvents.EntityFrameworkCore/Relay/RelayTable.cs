using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>What the built-in relay statements share: the table's name, the columns a claim returns, and reading a row.</summary>
internal static class RelayTable
{
    public const string Columns = "id, message_id, message_type, version, exchange, routing_key, partition_key, payload, headers, occurred_at, attempts";

    /// <summary>The outbox table of the context's model, quoted (with its schema where the database has schemas).</summary>
    public static string NameOf(DbContext context, bool withSchema)
    {
        var entity = context.Model.FindEntityType(typeof(OutboxMessage))
                     ?? throw new Interception.OutboxNotMappedException(context.GetType());
        var schema = entity.GetSchema();
        return schema is null || !withSchema ? Quote(entity.GetTableName()!) : $"{Quote(schema)}.{Quote(entity.GetTableName()!)}";
    }

    /// <summary>Reads a row returned in the order of <see cref="Columns"/>.</summary>
    public static OutboxEnvelope Read(DbDataReader reader) =>
        new(
            reader.GetInt64(0),
            reader.GetGuid(1),
            reader.GetString(2),
            reader.GetInt32(3),
            reader.GetString(4),
            reader.GetString(5),
            reader.GetString(6),
            reader.GetString(7),
            reader.GetString(8),
            DateTime.SpecifyKind(reader.GetDateTime(9), DateTimeKind.Utc),
            reader.GetInt32(10));

    /// <summary>Reads the (id, message id) pairs a lease of committed rows returns.</summary>
    public static async Task<HashSet<(long Id, Guid MessageId)>> ReadLeasedAsync(DbDataReader reader, CancellationToken cancellationToken)
    {
        var leased = new HashSet<(long, Guid)>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            leased.Add((reader.GetInt64(0), reader.GetGuid(1)));
        }

        return leased;
    }

    /// <summary>The built-in statements for the context's database, or <see langword="null"/>.</summary>
    public static IOutboxRelayStatements? BuiltIn(DbContext context) =>
        context.Database.IsPostgres() ? new PostgresRelayStatements(context)
        : context.Database.IsSqlite() ? new SqliteRelayStatements(context)
        : null;

    /// <summary>Runs a statement with named parameters; returns the rows it changed.</summary>
    public static async Task<int> ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A command on the connection with named parameters.</summary>
    public static DbCommand Command(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.AddParameter(name, value);
        }

        return command;
    }

    /// <summary>The error as stored (the column holds 4000 characters): cut before any provider sees it.</summary>
    public static string Stored(string error) => error.Length > 4000 ? error[..4000] : error;

    private static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}
