using System.Data.Common;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace DomainEvents.EntityFrameworkCore;

/// <summary>What the library's own SQL needs from a context: which provider it is, and parameters on plain commands.</summary>
internal static class RelationalCommands
{
    /// <summary>Whether the context runs on Npgsql (PostgreSQL).</summary>
    public static bool IsPostgres(this DatabaseFacade database) =>
        database.ProviderName?.Contains("Npgsql", StringComparison.Ordinal) == true;

    /// <summary>Whether the context runs on Microsoft.Data.Sqlite.</summary>
    public static bool IsSqlite(this DatabaseFacade database) =>
        database.ProviderName?.Contains("Sqlite", StringComparison.Ordinal) == true;

    /// <summary>Adds a named parameter with a value.</summary>
    /// <returns>The parameter, to set its type where the value alone does not say it.</returns>
    public static DbParameter AddParameter(this DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
        return parameter;
    }
}
