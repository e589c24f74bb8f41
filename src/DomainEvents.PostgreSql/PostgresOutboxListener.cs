using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace DomainEvents.PostgreSql;

/// <summary>Keeps one connection that LISTENs on the channel and wakes this process's relay on each notification.</summary>
internal sealed partial class PostgresOutboxListener<TContext>(
    IServiceScopeFactory scopeFactory,
    OutboxSignal signal,
    PostgresNotificationOptions options,
    ILogger<PostgresOutboxListener<TContext>> logger) : BackgroundService
    where TContext : DbContext
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string connectionString;
        await using (var scope = scopeFactory.CreateAsyncScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            connectionString = context.Database.GetConnectionString()
                               ?? throw new InvalidOperationException($"{typeof(TContext).Name} has no connection string to listen with.");
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(stoppingToken).ConfigureAwait(false);
                connection.Notification += (_, _) => signal.Notify();
                await using (var listen = new NpgsqlCommand($"LISTEN {options.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                }

                LogListening(logger, options.Channel);

                // Rows committed while the listener was away are found now rather than at the next poll.
                signal.Notify();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogLost(logger, ex, options.ReconnectDelay);
                try
                {
                    await Task.Delay(options.ReconnectDelay, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    [LoggerMessage(1, LogLevel.Debug, "Listening for outbox commits on {Channel}")]
    private static partial void LogListening(ILogger logger, string channel);

    [LoggerMessage(2, LogLevel.Warning, "Lost the LISTEN connection; reconnecting in {Delay}")]
    private static partial void LogLost(ILogger logger, Exception exception, TimeSpan delay);
}
