using System.Collections.Concurrent;
using global::MassTransit;
using RabbitMQ.Client.Exceptions;

namespace DomainEvents.MassTransit.Relay;

/// <summary>
/// Positive evidence that the broker refused a relay's send. MassTransit retries a refused send (an exchange declared
/// elsewhere with another type: 406; a missing exchange: 404; a publish the broker nacked) until the caller gives up,
/// so the caller sees only a timeout. This bus-wide send observer sees each faulted try: it records the refusal and
/// cancels the relay's send at once, so the refusal counts as an attempt of that message, while a send that merely
/// times out (a blocked or slow broker) counts as an outage.
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
        if (context.MessageId is { } id && _watched.TryGetValue(id, out var watch) && RefusalOf(exception, watch.Exchange) is { } refusal)
        {
            watch.Refuse(refusal);
        }

        return Task.CompletedTask;
    }

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    /// <summary>
    /// The broker refused a message to <paramref name="exchange"/>: a channel it closed with 403 (access refused), 404
    /// (not found) or 406 (precondition failed) for that exchange, or a nack. A channel closed for another exchange
    /// (its reply text names the exchange: "... exchange 'name' in vhost ...") fails the confirms of every message in
    /// flight on it; for those messages it is an outage, not a refusal.
    /// </summary>
    internal static Exception? RefusalOf(Exception exception, string exchange)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case OperationInterruptedException { ShutdownReason: { ReplyCode: 403 or 404 or 406 } reason }
                    when reason.ReplyText.Contains($"exchange '{exchange}'", StringComparison.Ordinal):
                case RabbitMQ.Client.Exceptions.PublishException { IsReturn: false }:
                    return e;
            }
        }

        return null;
    }

    /// <summary>The sends of one message being watched: cancelled as soon as the broker refuses one of them.</summary>
    internal sealed class Watch : IDisposable
    {
        private readonly BrokerRefusals _owner;
        private readonly Guid _messageId;
        private readonly CancellationTokenSource _cancellation;
        private Exception? _refusal;

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

        public void Refuse(Exception refusal)
        {
            if (Interlocked.CompareExchange(ref _refusal, refusal, null) is null)
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
