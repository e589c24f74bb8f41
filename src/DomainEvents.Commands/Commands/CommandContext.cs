using System.CommandLine;
using System.CommandLine.Parsing;
using System.Data.Common;
using System.Globalization;
using System.Text.RegularExpressions;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace DomainEvents.Commands.Commands;

/// <summary>What every command needs: the host's services, its contexts, the console, and one way to report failures.</summary>
internal sealed class CommandContext(IHost? host, IAnsiConsole console, TextWriter error)
{
    /// <summary>The host; none when the commands are only built to parse arguments (<c>IsHelpRequest</c>).</summary>
    public IHost Host => host ?? throw new InvalidOperationException("These commands were built to parse arguments only: they have no host to run in.");

    public IServiceProvider Services => Host.Services;

    public IAnsiConsole Console { get; } = console;

    public TextWriter Error { get; } = error;

    /// <summary>Writes a line as it is: no markup, and no wrapping at the console's width, so scripts can read it.</summary>
    public void WriteLine(string line) => Console.Profile.Out.Writer.WriteLine(line);

    /// <summary>The DbContext types with an outbox: those registered with AddEntityFrameworkOutbox, first one first.</summary>
    public IReadOnlyList<Type> OutboxContexts =>
        [.. Services.GetServices<OutboxContext>().Select(c => c.Type).Distinct()];

    /// <summary>The DbContext types with an inbox: those the consumers' inboxes use, and the outbox contexts whose model maps it.</summary>
    public IReadOnlyList<Type> InboxContexts =>
        [.. Services.GetServices<DomainEvents.EntityFrameworkCore.InboxContext>().Select(c => c.Type)
            .Concat(OutboxContexts.Where(MapsInbox))
            .Distinct()];

    /// <summary>The context named by <paramref name="name"/> (its type's name), or the only or first one.</summary>
    public Type? Pick(IReadOnlyList<Type> contexts, string? name, string what)
    {
        if (contexts.Count == 0)
        {
            Error.WriteLine($"error: this host has no {what}.");
            return null;
        }

        if (name is null)
        {
            return contexts[0];
        }

        var picked = contexts.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase) || c.FullName == name);
        if (picked is null)
        {
            Error.WriteLine($"error: no {what} in a context named '{name}'; this host has: {string.Join(", ", contexts.Select(c => c.Name))}.");
        }

        return picked;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a context in a scope of its own. A database that cannot be reached, or a table that
    /// is not there, is one line on standard error naming the context and exit code 3, never a stack trace.
    /// </summary>
    public async Task<int> WithContextAsync(Type contextType, Func<DbContext, IServiceProvider, Task<int>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = (DbContext)scope.ServiceProvider.GetRequiredService(contextType);
        try
        {
            return await work(db, scope.ServiceProvider).ConfigureAwait(false);
        }
        catch (Exception ex) when (DatabaseProblem(ex) is { } problem)
        {
            Error.WriteLine($"error: {contextType.Name}: {problem}");
            return ExitCodes.Unavailable;
        }
    }

    private bool MapsInbox(Type contextType)
    {
        using var scope = Services.CreateScope();
        return ((DbContext)scope.ServiceProvider.GetRequiredService(contextType)).Model.FindEntityType(typeof(InboxMessage)) is not null;
    }

    /// <summary>
    /// The database is away or refuses us (SQLSTATE classes 08 connection, 28 authorization, 3D no such database, 53
    /// resources, 57P shutdown; a socket or a file that cannot be opened), a table is missing, or the database did not
    /// answer in time (a connection or a statement past its timeout, a statement cancelled by the server's statement or
    /// lock timeout, SQLite's "database is locked"): said in one line. Any other error is a real one and keeps its
    /// exception.
    /// </summary>
    private static string? DatabaseProblem(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is not DbException db)
            {
                continue;
            }

            // One line: PostgreSQL's messages go on with details (the position, a hint) on lines of their own.
            var message = db.Message.Trim().Split('\n', 2)[0].Trim();
            if (db.SqlState is "42P01" || message.Contains("no such table", StringComparison.OrdinalIgnoreCase))
            {
                return $"a table is missing ({message}); apply the migration that adds the DomainEvents tables.";
            }

            // 57014 is also a statement cancelled on request (Ctrl+C): only the server's statement timeout counts here.
            if ((db.SqlState is null && db.InnerException is TimeoutException) || db.SqlState is "55P03"
                || (db.SqlState is "57014" && message.Contains("timeout", StringComparison.OrdinalIgnoreCase))
                || message.Contains("database is locked", StringComparison.OrdinalIgnoreCase))
            {
                return $"the database did not answer in time ({message}); check that it is up and reachable, and whether locks or load hold its statements past their timeouts.";
            }

            if (db.SqlState is { } state && (state.StartsWith("08", StringComparison.Ordinal) || state.StartsWith("28", StringComparison.Ordinal)
                                            || state.StartsWith("3D", StringComparison.Ordinal) || state.StartsWith("53", StringComparison.Ordinal)
                                            || state.StartsWith("57P", StringComparison.Ordinal))
                || (db.SqlState is null && db.InnerException is System.Net.Sockets.SocketException or IOException)
                || message.Contains("unable to open database file", StringComparison.OrdinalIgnoreCase))
            {
                return $"the database could not be used ({message}); check the context's connection string.";
            }
        }

        return null;
    }
}

/// <summary>The documented exit codes.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Unavailable = 3;
}

/// <summary>
/// Dates on the command line, read the same on every machine: ISO 8601 only (2026-04-05, 2026-04-05T10:30,
/// 2026-04-05T10:30:00Z, 2026-04-05T12:30:00+02:00), UTC when no zone is given, as UTC. A date written in a culture's own
/// order (04/05/2026) is a usage error: read in the machine's culture it could be the 4th of May as well as the 5th of
/// April, and a purge would then delete a month more than the operator meant.
/// </summary>
internal static partial class DateOptions
{
    /// <summary>An option that takes a date as above, required.</summary>
    public static Option<DateTime> Required(string name, string description) =>
        new(name) { Description = description + " ISO 8601 (2026-04-05 or 2026-04-05T10:30:00Z); UTC when no zone is given.", Required = true, CustomParser = Parse };

    /// <summary>An option that takes a date as above, or nothing.</summary>
    public static Option<DateTime?> Optional(string name, string description) =>
        new(name) { Description = description + " ISO 8601 (2026-04-05 or 2026-04-05T10:30:00Z); UTC when no zone is given.", CustomParser = result => Parse(result) };

    /// <summary>The date in <paramref name="text"/> as UTC, or null when it is not an ISO 8601 date.</summary>
    public static DateTime? TryRead(string text) =>
        IsoDate().IsMatch(text) && DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? value
            : null;

    private static DateTime Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
        if (TryRead(text) is { } value)
        {
            return value;
        }

        result.AddError($"{(result.Parent is OptionResult { Option: var option } ? option.Name : "the date")}: '{text}' is not a date in ISO 8601 form (2026-04-05, 2026-04-05T10:30:00Z, or with an offset such as +02:00; UTC when no zone is given).");
        return default;
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?)?(Z|[+-]\d{2}:\d{2})?$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoDate();
}
