using global::MassTransit;
using global::MassTransit.RabbitMqTransport;
using global::MassTransit.RabbitMqTransport.Configuration;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Follows RabbitMQ's <c>connection.blocked</c> and <c>connection.unblocked</c> on the relay's bus connection. While a
/// resource alarm (memory, disk) blocks it, the broker reads no publishes, so a send would only wait for its timeout:
/// the transport refuses new sends at once as an outage instead (no attempt charged) and names the broker's reason.
/// Sends already written to the socket are left to their timeout, since the broker may still take them when the alarm
/// clears. MassTransit 8.5 does not surface these notifications, so the watcher attaches to each connection the bus
/// makes, from the first send on it.
/// </summary>
internal sealed class ConnectionBlocks
{
    private static readonly TimeSpan AttachTimeout = TimeSpan.FromSeconds(30);
    private readonly ExchangeProbe _probe;
    private IConnection? _watched;
    private string? _reason;
    private int _attaching;

    public ConnectionBlocks(ExchangeProbe probe) => _probe = probe;

    /// <summary>The broker's reason while it blocks the relay's connection (for example "low on memory"); otherwise null.</summary>
    public string? Reason
    {
        get
        {
            // Not watching an open connection (none yet, or the one watched has closed): watch the bus's current one.
            if (Volatile.Read(ref _watched) is not { IsOpen: true })
            {
                Attach();
                return null;
            }

            return Volatile.Read(ref _reason);
        }
    }

    private void Attach()
    {
        if (_probe.Host is not { } host || Interlocked.CompareExchange(ref _attaching, 1, 0) != 0)
        {
            return;
        }

        _ = AttachAsync(host);
    }

    private async Task AttachAsync(IRabbitMqHostConfiguration host)
    {
        try
        {
            // Not given a token for the same reason as the probe: a supervisor cancelled while it connects drops the connection.
            await host.ConnectionContextSupervisor.Send(Pipe.Execute<ConnectionContext>(context => Watch(context.Connection)), CancellationToken.None)
                .WaitAsync(AttachTimeout).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // No connection now: sends fail as an outage anyway, and the next one tries to attach again.
        }
        finally
        {
            Volatile.Write(ref _attaching, 0);
        }
    }

    private void Watch(IConnection connection)
    {
        // MassTransit may still hand out a connection that has just closed: never settle on one.
        if (!connection.IsOpen || ReferenceEquals(Volatile.Read(ref _watched), connection))
        {
            return;
        }

        // Watched before subscribing: a shutdown handler that runs at once (the connection closed meanwhile) clears it again.
        Volatile.Write(ref _reason, null);
        Volatile.Write(ref _watched, connection);
        try
        {
            connection.ConnectionBlockedAsync += (_, e) => Set(connection, e.Reason);
            connection.ConnectionUnblockedAsync += (_, _) => Set(connection, null);
            connection.ConnectionShutdownAsync += (_, _) =>
            {
                // The next connection starts unblocked; the broker tells it again if the alarm still holds.
                if (ReferenceEquals(Interlocked.CompareExchange(ref _watched, null, connection), connection))
                {
                    Volatile.Write(ref _reason, null);
                }

                return Task.CompletedTask;
            };
        }
        catch (Exception)
        {
            // Disposed meanwhile: not thrown through MassTransit's pipe (it would recycle the connection); the next send attaches again.
            Interlocked.CompareExchange(ref _watched, null, connection);
        }
    }

    private Task Set(IConnection connection, string? reason)
    {
        if (ReferenceEquals(Volatile.Read(ref _watched), connection))
        {
            Volatile.Write(ref _reason, reason);
        }

        return Task.CompletedTask;
    }
}
