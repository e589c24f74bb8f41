using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Deletes processed outbox rows past <see cref="OutboxRelayOptions.ProcessedRetention"/>, in small batches, on its own
/// timer: a long clean-up never delays a claim. On PostgreSQL one relay at a time deletes (an advisory lock that the
/// others do not wait for).
/// </summary>
internal sealed class OutboxCleanupService<TContext> : BackgroundService
    where TContext : DbContext
{
    private readonly OutboxStore<TContext> _store;
    private readonly OutboxRelayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public OutboxCleanupService(IServiceScopeFactory scopeFactory, OutboxRelayOptions options, TimeProvider time, ILogger<OutboxCleanupService<TContext>> logger)
    {
        _store = new OutboxStore<TContext>(scopeFactory);
        _options = options;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CleanUpAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(_options.CleanupInterval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                OutboxRelayLog.CleanupFailed(_logger, ex, _options.CleanupInterval);
                try
                {
                    await Task.Delay(_options.CleanupInterval, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    /// <summary>Deletes every processed row past retention, one batch per statement.</summary>
    internal async Task CleanUpAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (_options.ProcessedRetention > now - DateTime.MinValue)
        {
            // Kept for longer than the calendar reaches back: nothing is old enough.
            return;
        }

        var cutoff = now - _options.ProcessedRetention;
        int deleted;
        do
        {
            deleted = await _store.DeleteProcessedAsync(cutoff, _options.CleanupBatchSize, cancellationToken).ConfigureAwait(false);
            if (deleted > 0)
            {
                OutboxRelayLog.CleanedUp(_logger, deleted, cutoff);
            }
        }
        while (deleted == _options.CleanupBatchSize && !cancellationToken.IsCancellationRequested);
    }
}
