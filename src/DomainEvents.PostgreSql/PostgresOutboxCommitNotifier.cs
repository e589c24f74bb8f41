using DomainEvents.EntityFrameworkCore;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.PostgreSql;

/// <summary>Sends NOTIFY on the context's connection after a commit that wrote outbox rows.</summary>
internal sealed class PostgresOutboxCommitNotifier(PostgresNotificationOptions options) : IOutboxCommitNotifier
{
    private readonly string _sql = $"NOTIFY {options.Channel}";

    public async Task NotifyAsync(DbContext context, CancellationToken cancellationToken)
    {
        if (!context.Database.IsPostgres())
        {
            return;
        }

        // After the commit: a lost notification only delays the relay until its next poll.
        await context.Database.ExecuteSqlRawAsync(_sql, cancellationToken).ConfigureAwait(false);
    }
}
