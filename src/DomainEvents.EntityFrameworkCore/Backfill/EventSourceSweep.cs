using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>
/// Runs the backfill of one entity type at start and then every interval, for sources whose events depend on time. The
/// backfill's lease makes one run at a time across every process that has the sweep: the others find it held and wait
/// for their next turn. A sweep that crashed is continued from its checkpoint once its lease has run out.
/// </summary>
internal sealed partial class EventSourceSweep<TContext, TEntity>(
    IServiceProvider services, TimeSpan every, BackfillOptions options, TimeProvider time, ILogger<EventSourceSweep<TContext, TEntity>>? logger = null)
    : BackgroundService
    where TContext : DbContext
    where TEntity : class
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backfill = services.GetRequiredService<IEventSourceBackfill<TContext>>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await backfill.RunAsync<TEntity>(options, progress: null, stoppingToken).ConfigureAwait(false);
            }
            catch (BackfillAlreadyRunningException ex)
            {
                LogHeld(_logger, ex.Name, ex.Owner);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogFailed(_logger, ex, typeof(TEntity).Name, every);
            }

            try
            {
                await Task.Delay(every, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sweep {Name}: held by {Owner}; trying again at the next interval")]
    private static partial void LogHeld(ILogger logger, string name, string? owner);

    [LoggerMessage(Level = LogLevel.Error, Message = "The sweep of {EntityType} failed; it runs again in {Every}")]
    private static partial void LogFailed(ILogger logger, Exception exception, string entityType, TimeSpan every);
}
