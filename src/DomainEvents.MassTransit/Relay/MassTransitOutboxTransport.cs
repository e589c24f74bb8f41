using System.Collections.Concurrent;
using System.Net.Sockets;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.Messaging;
using global::MassTransit;
using global::MassTransit.Serialization;
using RabbitMQ.Client.Exceptions;
using RelayUnavailableException = DomainEvents.EntityFrameworkCore.Relay.TransportUnavailableException;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Sends outbox rows through MassTransit to the row's exchange with its routing key, in the envelope configured
/// for the row. The stored payload bytes go into the envelope as they are; MassTransit awaits the broker's
/// publisher confirm.
/// </summary>
internal sealed class MassTransitOutboxTransport : IOutboxTransport
{
    private readonly IBusControl _bus;
    private readonly MassTransitRelayOptions _options;
    private readonly OutgoingMessageWriter _writer;
    private readonly ConcurrentDictionary<string, Lazy<Task<ISendEndpoint>>> _endpoints = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _provenExchanges = new(StringComparer.Ordinal);
    private const int Slots = 1024;
    private readonly SemaphoreSlim _firstSends = new(1, 1);
    private readonly SemaphoreSlim _slots = new(Slots, Slots);
    private readonly TimeSpan _sendTimeout;

    public MassTransitOutboxTransport(IBusControl bus, MassTransitRelayOptions options, MessageTypeRegistry registry, TimeProvider time, OutboxRelayOptions relayOptions)
    {
        _sendTimeout = relayOptions.SendTimeout;
        _bus = bus;
        _options = options;
        _writer = new OutgoingMessageWriter(options, registry, time);
    }

    /// <summary>
    /// The first send to an exchange runs alone: if the broker refuses the exchange (declared elsewhere with another
    /// type, say), the channel error cannot disturb the confirms of other messages in flight. Once a send to an
    /// exchange is confirmed, sends to it run concurrently.
    /// </summary>
    public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
    {
        if (_provenExchanges.ContainsKey(envelope.Exchange))
        {
            await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await SendTimedAsync(envelope).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
            }

            return;
        }

        // Alone: take the writer's turn, then every slot, so no other send is in flight.
        await _firstSends.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        var taken = 0;
        try
        {
            for (; taken < Slots; taken++)
            {
                await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            }

            await SendTimedAsync(envelope).ConfigureAwait(false);
            _provenExchanges.TryAdd(envelope.Exchange, true);
        }
        finally
        {
            if (taken > 0)
            {
                _slots.Release(taken);
            }

            _firstSends.Release();
        }
    }

    /// <summary>Sends with the relay's send timeout, counted from the moment the send starts.</summary>
    private async Task SendTimedAsync(OutboxEnvelope envelope)
    {
        using var timeout = new CancellationTokenSource(_sendTimeout);
        await SendOneAsync(envelope, timeout.Token).ConfigureAwait(false);
    }

    private async Task SendOneAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
    {
        ISendEndpoint endpoint;
        try
        {
            endpoint = await GetEndpointAsync(envelope.Exchange).ConfigureAwait(false);
            var stored = StoredHeaders.Parse(envelope.Headers);
            var message = _writer.Write(envelope, stored, DestinationOf(envelope.Exchange));
            await endpoint.Send(new SerializedMessageBody(), context =>
            {
                context.Serializer = new CopyBodySerializer(message.ContentType, new BytesMessageBody(message.Body));
                context.MessageId = envelope.MessageId;
                context.ConversationId = stored.CorrelationId;
                context.InitiatorId = stored.CausationId;
                context.Durable = true;
                context.SetRoutingKey(message.RoutingKey);
                foreach (var (name, value) in message.Headers)
                {
                    context.Headers.Set(name, value);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested && _bus.CheckHealth().Status == BusHealthStatus.Healthy)
        {
            // MassTransit retries a send the broker refuses (say, an exchange declared with another type) until it
            // is cancelled. With the bus healthy, the failure belongs to this message and counts as an attempt.
            _endpoints.TryRemove(envelope.Exchange, out _);
            throw new InvalidOperationException(
                $"Publishing {envelope.MessageType} to '{envelope.Exchange}' with '{envelope.RoutingKey}' did not complete in time while the broker was reachable; " +
                "the broker may be refusing the exchange or the message.", ex);
        }
        catch (Exception ex) when (IsUnavailable(ex, cancellationToken))
        {
            _endpoints.TryRemove(envelope.Exchange, out _);
            throw new RelayUnavailableException($"The broker could not be reached to publish to '{envelope.Exchange}': {ex.Message}", ex);
        }
    }

    private Task<ISendEndpoint> GetEndpointAsync(string exchange)
    {
        var lazy = _endpoints.GetOrAdd(exchange, e => new Lazy<Task<ISendEndpoint>>(() => _bus.GetSendEndpoint(new Uri(DestinationOf(e)))));
        var task = lazy.Value;
        if (task.IsFaulted || task.IsCanceled)
        {
            _endpoints.TryRemove(new KeyValuePair<string, Lazy<Task<ISendEndpoint>>>(exchange, lazy));
        }

        return task;
    }

    private string DestinationOf(string exchange) => $"exchange:{exchange}?type={_options.ExchangeTypeOf(exchange)}";

    private static bool IsUnavailable(Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            return true;
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AlreadyClosedException:
                case BrokerUnreachableException:
                case ConnectFailureException:
                case SocketException:
                case TimeoutException:
                case ConnectionException:
                case global::MassTransit.TransportUnavailableException:
                    return true;
                case OperationInterruptedException:
                    return false;
            }
        }

        return false;
    }
}
