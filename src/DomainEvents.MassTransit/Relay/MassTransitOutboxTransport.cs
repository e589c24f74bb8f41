using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Relay;
using DomainEvents.Messaging;
using global::MassTransit;
using global::MassTransit.Serialization;
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
    private readonly BrokerRefusals _refusals;
    private readonly ExchangeProbe _probe;
    private readonly ConnectionBlocks _blocks;

    public MassTransitOutboxTransport(
        IBusControl bus, MassTransitRelayOptions options, MessageTypeRegistry registry, TimeProvider time, BrokerRefusals refusals, ExchangeProbe probe, ConnectionBlocks blocks)
    {
        _blocks = blocks;
        _bus = bus;
        _options = options;
        _refusals = refusals;
        _probe = probe;
        _writer = new OutgoingMessageWriter(options, registry, time);
    }

    /// <summary>
    /// A refused exchange (declared elsewhere with another type, say) makes the broker close the channel that declared
    /// it, and MassTransit sends every destination on one shared channel: that error would take the confirms of every
    /// other message in flight with it. So before the first send to an exchange, on RabbitMQ, the exchange is declared
    /// on a channel of its own (<see cref="ExchangeProbe"/>): a refusal there is this message's attempt and disturbs
    /// no other send. On other transports the first send to an exchange runs alone instead. Once an exchange is
    /// proven, sends to it run concurrently. Every wait here ends when <paramref name="cancellationToken"/> fires,
    /// which the relay does after its send timeout.
    /// </summary>
    public async Task SendAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
    {
        if (_blocks.Reason is { } blocked)
        {
            // A resource alarm: the broker would hold the publish until it clears. An outage, not this message's attempt.
            throw new RelayUnavailableException($"The broker has blocked publishing on the relay's connection ({blocked}); sends resume when it unblocks it.");
        }

        var proven = _provenExchanges.ContainsKey(envelope.Exchange);
        if (!proven && _probe.CanProbe)
        {
            await ProbeAsync(envelope, cancellationToken).ConfigureAwait(false);
            _provenExchanges.TryAdd(envelope.Exchange, true);
            proven = true;
        }

        if (proven)
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await SendOneAsync(envelope, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
            }

            return;
        }

        // Alone: take the first-send turn, then every slot, so no other send is in flight.
        await _firstSends.WaitAsync(cancellationToken).ConfigureAwait(false);
        var taken = 0;
        try
        {
            for (; taken < Slots; taken++)
            {
                await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            await SendOneAsync(envelope, cancellationToken).ConfigureAwait(false);
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

    private async Task ProbeAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
    {
        try
        {
            await _probe.DeclareAsync(envelope.Exchange, _options.ExchangeTypeOf(envelope.Exchange), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (BrokerRefusals.RefusalOf(ex, envelope.Exchange) is { } refusal)
        {
            throw Refused(envelope, refusal);
        }
        catch (Exception ex)
        {
            throw new RelayUnavailableException($"The broker did not declare '{envelope.Exchange}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Only an error of the message's own counts as an attempt: one raised while writing it, or the broker's refusal
    /// (see <see cref="BrokerRefusals"/>). Every other failure on the way to the broker (unreachable, closed, blocked
    /// by an alarm, too slow to confirm) is an outage, and a nack is back-pressure (<see cref="DestinationBusyException"/>);
    /// neither costs an attempt.
    /// </summary>
    private async Task SendOneAsync(OutboxEnvelope envelope, CancellationToken cancellationToken)
    {
        var stored = StoredHeaders.Parse(envelope.Headers);
        var message = _writer.Write(envelope, stored, DestinationOf(envelope.Exchange));
        using var watch = _refusals.Start(envelope.MessageId, envelope.Exchange, cancellationToken);
        try
        {
            var endpoint = await GetEndpointAsync(envelope.Exchange).WaitAsync(watch.Token).ConfigureAwait(false);
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
            }, watch.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when ((watch.Refusal ?? BrokerRefusals.RefusalOf(ex, envelope.Exchange)) is not null)
        {
            // Positive evidence: the broker refused this message. That is an attempt of the message, not an outage.
            var refusal = (watch.Refusal ?? BrokerRefusals.RefusalOf(ex, envelope.Exchange))!;
            _endpoints.TryRemove(envelope.Exchange, out _);
            _provenExchanges.TryRemove(envelope.Exchange, out _);
            throw Refused(envelope, refusal);
        }
        catch (Exception ex) when ((watch.Nack ?? BrokerRefusals.NackOf(ex)) is { } nack)
        {
            // Back-pressure from a queue this route reaches (at its length limit with reject-publish, or without a leader),
            // whatever the message: no attempt, and the row waits for its lease. The channel is fine, so the endpoint is kept.
            throw new DestinationBusyException($"The broker nacked the publish to '{envelope.Exchange}' with '{envelope.RoutingKey}': a queue it routes to takes nothing now (at its length limit with x-overflow reject-publish, or without a leader). {nack.Message}", nack);
        }
        catch (Exception ex)
        {
            _endpoints.TryRemove(envelope.Exchange, out _);
            throw new RelayUnavailableException($"The broker did not confirm the publish to '{envelope.Exchange}': {ex.Message}", ex);
        }
    }

    private static InvalidOperationException Refused(OutboxEnvelope envelope, Exception refusal) =>
        new($"The broker refused {envelope.MessageType} to '{envelope.Exchange}' with '{envelope.RoutingKey}': {refusal.Message}", refusal);

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
}
