using DomainEvents.EntityFrameworkCore.Draining;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Before any hosted service starts (the relay and the bus included), notes the outbox's highest row id: from then on,
/// a drain that waits for consumers waits for every row above it.
/// </summary>
internal sealed partial class DrainBaselineService(IEnumerable<IOutboxDrain> drains, ILogger<DrainBaselineService> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        foreach (var drain in drains.OfType<IOutboxDrainBaseline>())
        {
            try
            {
                await drain.BeginWatchingAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The host starts anyway; the drain then waits for every processed row, which a test notices as a timeout.
                LogFailed(logger, ex);
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(1, LogLevel.Warning, "Reading the outbox's highest id for the drain failed; a drain that waits for consumers will wait for every processed row")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
