using System.Collections.Concurrent;
using global::MassTransit;
using RabbitMQ.Client.Exceptions;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Positive evidence that the broker refused a relay's send. MassTransit retries a refused send (an exchange declared
/// elsewhere with another type: 406; a missing exchange: 404; a publish the broker nacked) until the caller gives up,
/// so the caller sees only a timeout. This bus-wide send observer sees each faulted try: it records the refusal and
/// cancels the relay's send at once, so the refusal counts as an attempt of that message, while a send that merely
/// times out (a blocked or slow broker) counts as an outage. A nack is recorded and cancels the send too, but it is
/// back-pressure, not a refusal of the message: RabbitMQ nacks a publish when a queue it routes to is at its length
/// limit with <c>x-overflow: reject-publish</c>, or has no leader, whatever the message.
/// </summary>
internal sealed class BrokerRefusals : ISendObserver
{
    private readonly ConcurrentDictionary<Guid, Watch> _watched = new();

    /// <summary>Watches the sends of one message until the returned handle is disposed.</summary>
    public Watch Start(Guid messageId, string exchange, CancellationToken cancellationToken)
    {
        var watch = new Watch(this, messageId, exchange, cancellationToken);
        _watched[messageId] = watch;
        return watch;
    }

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class
    {
        if (context.MessageId is { } id && _watched.TryGetValue(id, out var watch))
        {
            if (RefusalOf(exception, watch.Exchange) is { } refusal)
            {
                watch.Stop(refusal, nack: false);
            }
            else if (NackOf(exception) is { } nack)
            {
                watch.Stop(nack, nack: true);
            }
        }

        return Task.CompletedTask;
    }

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    /// <summary>
    /// The broker refused a message to <paramref name="exchange"/>: a channel it closed with 403 (access refused), 404
    /// (not found) or 406 (precondition failed) for that exchange. A channel closed for another exchange (its reply text
    /// names the exchange: "... exchange 'name' in vhost ...") fails the confirms of every message in flight on it; for
    /// those messages it is an outage, not a refusal.
    /// </summary>
    internal static Exception? RefusalOf(Exception exception, string exchange)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is OperationInterruptedException { ShutdownReason: { ReplyCode: 403 or 404 or 406 } reason }
                && reason.ReplyText.Contains($"exchange '{exchange}'", StringComparison.Ordinal))
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>The broker nacked the publish: back-pressure from a queue it routes to, an outage rather than a refusal.</summary>
    internal static Exception? NackOf(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is RabbitMQ.Client.Exceptions.PublishException { IsReturn: false })
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>The sends of one message being watched: cancelled as soon as the broker refuses or nacks one of them.</summary>
    internal sealed class Watch : IDisposable
    {
        private readonly BrokerRefusals _owner;
        private readonly Guid _messageId;
        private readonly CancellationTokenSource _cancellation;
        private Exception? _refusal;
        private Exception? _nack;

        public Watch(BrokerRefusals owner, Guid messageId, string exchange, CancellationToken cancellationToken)
        {
            _owner = owner;
            _messageId = messageId;
            Exchange = exchange;
            _cancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        }

        /// <summary>The exchange the message goes to.</summary>
        public string Exchange { get; }

        /// <summary>Cancelled when the caller gives up or the broker refuses the message.</summary>
        public CancellationToken Token => _cancellation.Token;

        /// <summary>The broker's refusal, if it refused.</summary>
        public Exception? Refusal => Volatile.Read(ref _refusal);

        /// <summary>The broker's nack, if it nacked (and did not refuse).</summary>
        public Exception? Nack => Volatile.Read(ref _nack);

        /// <summary>Records the first refusal or nack and cancels the send.</summary>
        public void Stop(Exception error, bool nack)
        {
            var first = nack ? Interlocked.CompareExchange(ref _nack, error, null) : Interlocked.CompareExchange(ref _refusal, error, null);
            if (first is null)
            {
                try
                {
                    _cancellation.Cancel();
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }

        public void Dispose()
        {
            _owner._watched.TryRemove(new KeyValuePair<Guid, Watch>(_messageId, this));
            _cancellation.Dispose();
        }
    }
}
