using DomainEvents.EntityFrameworkCore.Monitoring;
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
    IOutboxWakeUp wakeUp,
    PostgresNotificationOptions options,
    ILogger<PostgresOutboxListener<TContext>> logger,
    IDomainEventsHealthReporter? health = null) : BackgroundService
    where TContext : DbContext
{
    private readonly IReportedHealth? _health = health?.Register(IDomainEventsHealthReporter.Notifications, $"LISTEN {options.Channel} ({typeof(TContext).Name})");

    public override void Dispose()
    {
        _health?.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Listens on the context's own connection, made the way the application configured it (a data source, a password
    /// provider), so a reconnect never loses credentials. With no notification for <see cref="PostgresNotificationOptions.KeepAliveInterval"/>
    /// it asks the server, so a connection that died without a word is noticed; a lost connection is made again after a
    /// pause that doubles up to <see cref="PostgresNotificationOptions.MaxReconnectDelay"/>.
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = options.ReconnectDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var scope = scopeFactory.CreateAsyncScope();
                var context = scope.ServiceProvider.GetRequiredService<TContext>();
                if (context.Database.GetDbConnection() is not NpgsqlConnection connection)
                {
                    throw new InvalidOperationException($"{typeof(TContext).Name} does not use Npgsql: LISTEN/NOTIFY needs PostgreSQL.");
                }

                // Opened through EF Core, so the context's connection interceptors run too.
                await context.Database.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
                NotificationEventHandler wake = (_, e) => wakeUp.WakeFromNotification(e.Payload, typeof(TContext));
                connection.Notification += wake;
                try
                {
                    await ListenAsync(connection, stoppingToken, () => delay = options.ReconnectDelay).ConfigureAwait(false);
                }
                finally
                {
                    connection.Notification -= wake;
                    await UnlistenAsync(connection).ConfigureAwait(false);

                    await context.Database.CloseConnectionAsync().ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogLost(logger, ex, delay);
                _health?.Problem(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, "reconnecting; relays find rows from other processes at their next poll meanwhile: " + ex.Message, ex);
                try
                {
                    await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Math.Max(options.MaxReconnectDelay.Ticks, options.ReconnectDelay.Ticks)));
            }
        }
    }

    /// <summary>A connection that goes back to a pool must not keep listening; a broken one is discarded anyway.</summary>
    private static async Task UnlistenAsync(NpgsqlConnection connection)
    {
        if (connection.State != System.Data.ConnectionState.Open)
        {
            return;
        }

        try
        {
            await using var unlisten = new NpgsqlCommand("UNLISTEN *", connection);
            await unlisten.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            // The connection is no good; closing it below discards it.
        }
    }

    private async Task ListenAsync(NpgsqlConnection connection, CancellationToken stoppingToken, Action listening)
    {
        await using (var listen = new NpgsqlCommand($"LISTEN {options.Channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
        }

        LogListening(logger, options.Channel);
        _health?.Healthy("listening");
        listening();

        // Rows committed while the listener was away are found now rather than at the next poll.
        wakeUp.Wake(typeof(TContext));
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!await connection.WaitAsync(options.KeepAliveInterval, stoppingToken).ConfigureAwait(false))
            {
                await using var ping = new NpgsqlCommand("SELECT 1", connection) { CommandTimeout = (int)Math.Ceiling(options.KeepAliveInterval.TotalSeconds) };
                await ping.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Debug, "Listening for outbox commits on {Channel}")]
    private static partial void LogListening(ILogger logger, string channel);

    [LoggerMessage(2, LogLevel.Warning, "Lost the LISTEN connection; reconnecting in {Delay}")]
    private static partial void LogLost(ILogger logger, Exception exception, TimeSpan delay);
}
