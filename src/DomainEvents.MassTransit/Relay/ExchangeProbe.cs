using System.Collections.Concurrent;
using global::MassTransit;
using global::MassTransit.RabbitMqTransport;
using global::MassTransit.RabbitMqTransport.Configuration;
using global::MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Declares an exchange on a channel of its own, on the bus's RabbitMQ connection, before the relay's first send to it.
/// MassTransit sends on one channel shared by every destination, and the broker closes a channel that declares an
/// exchange it refuses (406: it exists with another type; 403: not allowed): on the shared channel that failure would
/// take the confirms of every other message in flight with it. Declared here, a refusal closes only this probe's
/// channel. One probe per exchange runs at a time; its outcome is shared by the sends waiting for it, and a failed
/// probe is forgotten, so the next attempt probes again.
/// </summary>
internal sealed class ExchangeProbe
{
    private readonly Lazy<IRabbitMqHostConfiguration?> _host;
    private readonly ConcurrentDictionary<string, Lazy<Task>> _probes = new(StringComparer.Ordinal);

    public ExchangeProbe(IServiceProvider services)
    {
        _host = new Lazy<IRabbitMqHostConfiguration?>(() => services.GetService<IBusInstance>()?.HostConfiguration as IRabbitMqHostConfiguration);
    }

    /// <summary>Whether the bus runs on RabbitMQ, so that exchanges can be probed.</summary>
    public bool CanProbe => _host.Value is not null;

    /// <summary>Declares <paramref name="exchange"/> as MassTransit would (durable, not auto-deleted, of the given type).</summary>
    public Task DeclareAsync(string exchange, string type, CancellationToken cancellationToken)
    {
        var lazy = _probes.GetOrAdd(exchange, e => new Lazy<Task>(() => RunAsync(e, type)));
        var probe = lazy.Value;
        if (probe.IsFaulted || probe.IsCanceled)
        {
            _probes.TryRemove(new KeyValuePair<string, Lazy<Task>>(exchange, lazy));
        }
        else if (!probe.IsCompleted)
        {
            // Forget it once it fails, whoever waits for it.
            _ = probe.ContinueWith(
                t => _probes.TryRemove(new KeyValuePair<string, Lazy<Task>>(exchange, lazy)),
                CancellationToken.None,
                TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        return probe.WaitAsync(cancellationToken);
    }

    private async Task RunAsync(string exchange, string type)
    {
        // Bounded on its own, so that a probe stuck on a blocked connection ends and is tried again. The declare's error
        // is kept, not thrown through MassTransit's pipe: a pipe that throws makes the supervisor recycle the connection,
        // which would fail every send on it.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Exception? refused = null;
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
                refused = ex;
            }
            finally
            {
                if (channel is not null)
                {
                    if (channel.IsOpen)
                    {
                        await channel.CloseAsync(CancellationToken.None).ConfigureAwait(false);
                    }

                    channel.Dispose();
                }
            }
        }), timeout.Token).ConfigureAwait(false);
        if (refused is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(refused);
        }
    }
}
