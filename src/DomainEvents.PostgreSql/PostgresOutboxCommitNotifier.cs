using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.PostgreSql;

/// <summary>
/// Sends NOTIFY on the context's connection in a transaction that wrote outbox rows, when no relay of this process takes
/// them (see <see cref="IOutboxCommitNotifier"/>). The payload names this process's signal: its own listener skips it,
/// since the commit hands its rows to the relay here anyway.
/// </summary>
internal sealed class PostgresOutboxCommitNotifier(PostgresNotificationOptions options, IOutboxWakeUp wakeUp, Type contextType) : IOutboxCommitNotifier
{
    private readonly string _sql = $"NOTIFY {options.Channel}, '{wakeUp.ProcessToken}'";

    public async Task NotifyAsync(DbContext context, CancellationToken cancellationToken)
    {
        // With several contexts in one process, each has its own notifier, channel and listener.
        if (context.GetType() != contextType || context.Database.ProviderName?.Contains("Npgsql", StringComparison.Ordinal) != true)
        {
            return;
        }

        // In the transaction (the save's, the caller's or an ambient one), delivered by PostgreSQL at its commit: a failure
        // here fails the transaction and the save. After a save that had no transaction: a failure is logged. A notification
        // that never arrives only delays the relay until its next poll.
        await context.Database.ExecuteSqlRawAsync(_sql, cancellationToken).ConfigureAwait(false);
    }
}
