using System.Data.Common;
using Microsoft.EntityFrameworkCore.Storage;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>Tells a database that is away for a while (restart, fail-over, dropped connection) from an error of the message.</summary>
internal static class TransientDatabaseErrors
{
    /// <summary>
    /// SQLSTATE 25006, a write in a read-only transaction: what a server that only reads answers during a fail-over (the old
    /// primary turned standby, a standby not yet promoted). Npgsql does not count it as transient; for a consumer it is the
    /// database being away, not an error of the message.
    /// </summary>
    private const string ReadOnlyTransaction = "25006";

    /// <summary>
    /// Whether the exception, or one it wraps, is a transient database error, the execution strategy giving up on one, a
    /// database this service cannot use now although the message is fine (see <see cref="Unusable"/>), or a save that lost
    /// a keyed event's key to a save committed at the same time (see <see cref="LostAKeyRace"/>).
    /// </summary>
    public static bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RetryLimitExceededException:
                case DbException { IsTransient: true }:
                case DbException unusable when Unusable(unusable):
                case DbException busy when SqliteBusy(busy):
                case ReplicaConflictException:
                case Microsoft.EntityFrameworkCore.DbUpdateException update when LostAKeyRace(update):
                    return true;
                case AggregateException { InnerExceptions.Count: > 0 } hosts:
                    // Each host's error: all of them, not the first one's alone (which the walk to InnerException would read).
                    return hosts.InnerExceptions.All(IsTransient);
            }
        }

        return false;
    }

    /// <summary>
    /// SQLite's "database is locked" (SQLITE_BUSY, 5) or "database table is locked" (SQLITE_LOCKED, 6): another writer held
    /// the database past the connection's busy timeout (<c>Default Timeout</c>, 30 s). Microsoft.Data.Sqlite does not call
    /// it transient, but the message is not at fault. It is not taken for the database being away: a consumer can lock
    /// itself out (a second connection of its own writing in its transaction), so its waits end after the last one.
    /// </summary>
    private static bool SqliteBusy(DbException error) =>
        error.GetType().Name == "SqliteException" && error.GetType().GetProperty("SqliteErrorCode")?.GetValue(error) is 5 or 6;

    /// <summary>
    /// Errors the provider does not call transient that say the service cannot use the database now, whatever the message:
    /// a server that only reads (25006), credentials refused (class 28: a password rotated before the service's), or a
    /// database that does not exist (3D000: dropped for a restore, or not yet created by a fail-over).
    /// </summary>
    private static bool Refused(DbException error) => error.SqlState is ReadOnlyTransaction or ['2', '8', _, _, _] or "3D000";

    /// <summary>
    /// Errors the provider does not call transient that say this service cannot use the database now, whatever the
    /// message: one the server <see cref="Refused"/>, or no host of several that would do (<see cref="NoSuitableHost"/>).
    /// Both checks, transient and away, take them for the database being away.
    /// </summary>
    private static bool Unusable(DbException error) => Refused(error) || NoSuitableHost(error);

    /// <summary>
    /// What a connection string naming several hosts (<c>Host=a,b;Target Session Attributes=primary</c>) answers when it
    /// knows every host to be unfit, as during a fail-over when none is primary yet: Npgsql says so in this error alone, with
    /// no SQLSTATE and nothing inside. (When it tried hosts and none answered, its error wraps an AggregateException of
    /// each host's error, which the checks read one by one.)
    /// </summary>
    private static bool NoSuitableHost(DbException error) =>
        error is { SqlState: null, InnerException: null } && error.GetType().Name == "NpgsqlException"
        && string.Equals(error.Message, "No suitable host was found.", StringComparison.Ordinal);

    /// <summary>
    /// Whether the exception, or one it wraps, says the database cannot be reached or will not take writes now: a connection
    /// refused, reset, lost or timed out (a socket, stream or timeout error under a database error: a network cut off leaves
    /// commands waiting until they time out, so a timeout is taken for an outage), a connection exception (SQLSTATE class
    /// 08), too many connections (53300), a server shutting down or starting up (57P01-57P03), or one <see cref="Unusable"/>
    /// names (refused by the server, or no host of several fit to take the connection). A deadlock, a
    /// serialization failure or a statement cancelled by the server (57014, <c>statement_timeout</c>) is transient too, but
    /// may be the message's own doing: it is not the database being away.
    /// </summary>
    public static bool IsAway(Exception exception) => IsAwayUnder(exception, underDatabaseError: false);

    private static bool IsAwayUnder(Exception exception, bool underDatabaseError)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case DbException { SqlState: TooManyConnections or "57P01" or "57P02" or "57P03" }:
                case DbException { SqlState: [ '0', '8', _, _, _ ] }:
                case DbException unusable when Unusable(unusable):
                    return true;
                case DbException:
                    underDatabaseError = true;
                    break;
                case System.Net.Sockets.SocketException or IOException or TimeoutException when underDatabaseError:
                    return true;
                case AggregateException { InnerExceptions.Count: > 0 } hosts:
                    var under = underDatabaseError;
                    return hosts.InnerExceptions.All(h => IsAwayUnder(h, under));
            }
        }

        return false;
    }

    /// <summary>
    /// Whether a save failed because another save took one of its keyed events' keys first: both found the key free and
    /// dispatched, and the ledger of handled keys refused the second row (its primary key: a unique violation naming the
    /// ledger's table). Run again on a clean change tracker, the attempt finds the key handled and skips the event; the
    /// rest of the consumer's work is done.
    /// </summary>
    internal static bool LostAKeyRace(Microsoft.EntityFrameworkCore.DbUpdateException update)
    {
        if (update.Entries.FirstOrDefault(e => e.Entity is EntityFrameworkCore.Keys.HandledEventKey) is not { } ledger
            || Microsoft.EntityFrameworkCore.RelationalEntityTypeExtensions.GetTableName(ledger.Metadata) is not { } table)
        {
            return false;
        }

        for (Exception? e = update.InnerException; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // PostgreSQL: unique_violation, with the table it was on (Npgsql puts the server's fields in Data). EF Core
                // names every entry of the failed batch, so only the table tells the ledger's row from another.
                case DbException { SqlState: "23505" } unique:
                    return unique.Data["TableName"] is string on && string.Equals(on, table, StringComparison.Ordinal);

                // SQLite: "SQLite Error 19: 'UNIQUE constraint failed: handled_event_keys.key, ...'".
                case DbException sqlite when sqlite.GetType().Name == "SqliteException":
                    return sqlite.Message.Contains($"UNIQUE constraint failed: {table}.", StringComparison.Ordinal);
            }
        }

        return false;
    }

    /// <summary>SQLSTATE 53300: the server takes no more connections, as after a restart when every client reconnects at once.</summary>
    private const string TooManyConnections = "53300";
}
