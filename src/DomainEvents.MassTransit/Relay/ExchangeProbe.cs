using System.Collections.Concurrent;
using global::MassTransit;
using global::MassTransit.RabbitMqTransport;
using global::MassTransit.RabbitMqTransport.Configuration;
using global::MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Declares an exchange on a channel of its own, on the relay's bus's RabbitMQ connection, before the relay's first
/// send to it. MassTransit sends every destination on one shared channel, and the broker closes a channel that
/// declares an exchange it refuses (406: it exists with another type; 403: not allowed): on the shared channel that
/// failure would take the confirms of every other message in flight with it. Declared here, a refusal closes only
/// this probe's channel. One probe per exchange runs at a time and the sends waiting for it share its outcome; a
/// finished probe is forgotten (the transport remembers the exchanges that passed), so the next attempt probes again.
/// </summary>
internal sealed class ExchangeProbe
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly Lazy<IRabbitMqHostConfiguration?> _host;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _probes = new(StringComparer.Ordinal);

    public ExchangeProbe(IServiceProvider services, IBusControl bus)
    {
        // The relay's bus: with several buses (AddMassTransit<IOtherBus>) each registers an IBusInstance.
        _host = new Lazy<IRabbitMqHostConfiguration?>(() => services.GetServices<IBusInstance>()
            .FirstOrDefault(b => ReferenceEquals(b.BusControl, bus))?.HostConfiguration as IRabbitMqHostConfiguration);
    }

    /// <summary>Whether the relay's bus runs on RabbitMQ, so that exchanges can be probed.</summary>
    public bool CanProbe => _host.Value is not null;

    /// <summary>The relay's bus's RabbitMQ host, or null on another transport.</summary>
    public IRabbitMqHostConfiguration? Host => _host.Value;

    /// <summary>Declares <paramref name="exchange"/> as MassTransit would (durable, not auto-deleted, of the given type).</summary>
    public Task DeclareAsync(string exchange, string type, CancellationToken cancellationToken)
    {
        Lazy<Task>? lazy = null;
        lazy = _probes.GetOrAdd(exchange, e => new Lazy<Task>(() =>
        {
            var probe = RunAsync(e, type);
            _ = probe.ContinueWith(
                t =>
                {
                    _ = t.Exception;
                    _probes.TryRemove(new KeyValuePair<string, Lazy<Task>>(e, lazy!));
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return probe;
        }));
        return lazy.Value.WaitAsync(cancellationToken);
    }

    private async Task RunAsync(string exchange, string type)
    {
        // The declare is bounded on its own, so that a probe stuck on a blocked connection ends and is tried again.
        // MassTransit's supervisor is not given that token (cancelled while it connects, it would drop the connection
        // it is making), and the declare's error is kept rather than thrown through its pipe: a pipe that throws makes
        // the supervisor recycle the connection, which would fail every send on it.
        using var timeout = new CancellationTokenSource(Timeout);
        Exception? failure = null;
        await _host.Value!.ConnectionContextSupervisor.Send(Pipe.ExecuteAsync<ConnectionContext>(async context =>
        {
            IChannel? channel = null;
            try
            {
                channel = await context.CreateChannel(null, timeout.Token).ConfigureAwait(false);
                await channel.ExchangeDeclareAsync(exchange, type, durable: true, autoDelete: false, cancellationToken: timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            finally
            {
                await CloseQuietlyAsync(channel).ConfigureAwait(false);
            }
        }), CancellationToken.None).WaitAsync(Timeout).ConfigureAwait(false);
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    private static async Task CloseQuietlyAsync(IChannel? channel)
    {
        if (channel is null)
        {
            return;
        }

        try
        {
            if (channel.IsOpen)
            {
                await channel.CloseAsync(200, "probe done", abort: true, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Closing a probe's channel is best effort; the broker closes it with the connection anyway.
        }

        try
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Same.
        }
    }
}
