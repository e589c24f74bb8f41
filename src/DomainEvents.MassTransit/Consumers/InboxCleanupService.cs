using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Monitoring;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>Deletes inbox rows older than the retention window, in small batches.</summary>
internal sealed partial class InboxCleanupService<TContext>(
    IServiceScopeFactory scopeFactory,
    InboxCleanupOptions options,
    TimeProvider time,
    ILogger<InboxCleanupService<TContext>> logger,
    IDomainEventsHealthReporter? health = null) : BackgroundService
    where TContext : DbContext
{
    // Runs every Interval; three missed runs in a row mean it is stuck.
    private readonly IReportedHealth? _health = health?.Register(IDomainEventsHealthReporter.InboxCleanup, $"inbox clean-up ({typeof(TContext).Name})", stalledAfter: options.Interval * 3);

    public override void Dispose()
    {
        _health?.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DeleteExpiredAsync(stoppingToken).ConfigureAwait(false);
                _health?.Healthy("running");
                await Task.Delay(options.Interval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogFailed(logger, ex);
                _health?.Problem(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, "deleting expired inbox rows failed: " + ex.Message, ex);
                await Task.Delay(options.Interval, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    internal async Task<int> DeleteExpiredAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (options.Retention > now - DateTime.MinValue)
        {
            // Kept for longer than the calendar reaches back: no id is old enough.
            return 0;
        }

        var cutoff = now - options.Retention;
        var total = 0;
        int deleted;
        do
        {
            await using var scope = scopeFactory.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TContext>();
            var expired = db.Set<InboxMessage>().Where(m => m.ProcessedAt < cutoff).OrderBy(m => m.ProcessedAt).Take(options.BatchSize).Select(m => m.MessageId);
            deleted = await db.Set<InboxMessage>().Where(m => expired.Contains(m.MessageId) && m.ProcessedAt < cutoff).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
            total += deleted;
        }
        while (deleted >= options.BatchSize && !cancellationToken.IsCancellationRequested);

        if (total > 0)
        {
            LogDeleted(logger, total, cutoff);
        }

        return total;
    }

    [LoggerMessage(1, LogLevel.Debug, "Deleted {Count} inbox rows older than {Cutoff:o}")]
    private static partial void LogDeleted(ILogger logger, int count, DateTime cutoff);

    [LoggerMessage(2, LogLevel.Error, "Inbox clean-up failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
