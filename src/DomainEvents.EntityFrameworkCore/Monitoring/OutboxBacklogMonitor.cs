using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>
/// Reads the outbox's backlog every <see cref="OutboxRelayOptions.BacklogInterval"/> for the gauges, so a scrape costs
/// nothing and the database sees one reading per interval whatever the number of scrapers.
/// </summary>
internal sealed partial class OutboxBacklogMonitor<TContext>(
    IServiceScopeFactory scopes,
    OutboxRelayOptions options,
    TimeProvider time,
    ILogger<OutboxBacklogMonitor<TContext>> logger) : BackgroundService
    where TContext : DbContext
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.BacklogInterval == TimeSpan.Zero)
        {
            return;
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    // Nothing listens to the gauges (no OpenTelemetry meter, say): no query.
                    if (RelayMetrics.BacklogObserved)
                    {
                        await using var scope = scopes.CreateAsyncScope();
                        var backlog = await scope.ServiceProvider.GetRequiredService<IOutboxAdministration<TContext>>().GetBacklogAsync(stoppingToken).ConfigureAwait(false);
                        RelayMetrics.Observed(typeof(TContext), backlog);
                    }
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogFailed(logger, ex, options.BacklogInterval);
                }

                await Task.Delay(options.BacklogInterval, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            RelayMetrics.Forget(typeof(TContext));
        }
    }

    [LoggerMessage(20, LogLevel.Warning, "Reading the outbox backlog for the gauges failed; trying again in {Interval}")]
    private static partial void LogFailed(ILogger logger, Exception exception, TimeSpan interval);
}
