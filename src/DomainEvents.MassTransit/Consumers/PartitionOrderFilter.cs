using System.Runtime.CompilerServices;
using global::MassTransit;
using global::MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Keeps the order of each partition key while an endpoint handles several messages at once. RabbitMQ numbers the
/// deliveries of a channel 1, 2, 3, ... in queue order (delivery tags), and the client hands them to the endpoint's
/// workers in that order, so when delivery t reaches this filter (the first of the receive pipe) every delivery before
/// it has been taken by a worker and is on its way here. A message therefore waits until every earlier delivery has
/// told its key, then until the earlier messages of its own key are done; messages of other keys run meanwhile. A
/// message without a key waits for nothing. It runs on RabbitMQ endpoints only (elsewhere the endpoint takes one message
/// at a time); a delivery there without a tag would go one at a time. The key is
/// the <c>de-partition-key</c> header, which the relay sets in every envelope. Limits: a message that the broker
/// redelivers (the channel failed, or the endpoint stopped while it ran) comes back behind later messages of its key;
/// a delivery that never reaches the filter (dropped while the endpoint stops) holds later ones back for 30 s.
/// </summary>
internal sealed partial class PartitionOrderFilter : IFilter<ReceiveContext>
{
    /// <summary>How long a message waits for an earlier delivery that never reaches the filter (one dropped while the endpoint stops).</summary>
    private static readonly TimeSpan MissingDeliveryTimeout = TimeSpan.FromSeconds(30);

    private readonly ConditionalWeakTable<ChannelContext, Sequencer> _sequencers = [];
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly ILogger _logger;

    public PartitionOrderFilter(ILogger logger) => _logger = logger;

    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        if (context is not RabbitMqBasicConsumeContext delivery || !context.TryGetPayload<ChannelContext>(out var channel))
        {
            await _oneAtATime.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            try
            {
                await next.Send(context).ConfigureAwait(false);
            }
            finally
            {
                _oneAtATime.Release();
            }

            return;
        }

        // One sequencer per channel: a new channel (after a reconnect) numbers its deliveries from 1 again.
        var sequencer = _sequencers.GetValue(channel, _ => new Sequencer());
        var key = context.TransportHeaders.Get<string>(IntegrationEventHeaders.PartitionKey);
        var turn = sequencer.Register(delivery.DeliveryTag, string.IsNullOrEmpty(key) ? null : key);
        try
        {
            // Only the wait for earlier deliveries to arrive is bounded; the wait for the key's earlier messages is not.
            if (!await turn.Counted.Task.WaitAsync(MissingDeliveryTimeout, context.CancellationToken).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default).ConfigureAwait(false))
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                LogMissingDelivery(_logger, delivery.DeliveryTag, MissingDeliveryTimeout.TotalSeconds);
                sequencer.GiveUpWaitingFor(turn);
            }

            await turn.Ready.Task.WaitAsync(context.CancellationToken).ConfigureAwait(false);

            await next.Send(context).ConfigureAwait(false);
        }
        finally
        {
            sequencer.Done(turn);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("domainEventsPartitionOrder");

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery {DeliveryTag} waited {Seconds} s for an earlier delivery that never came; it goes on, keeping order among the deliveries that did")]
    private static partial void LogMissingDelivery(ILogger logger, ulong deliveryTag, double seconds);

    /// <summary>A delivery's place: its tag, its key, and when it may run.</summary>
    internal sealed class Turn(ulong tag, string? key)
    {
        public ulong Tag { get; } = tag;

        public string? Key { get; } = key;

        /// <summary>Completed when every earlier delivery has registered (or was given up on).</summary>
        public TaskCompletionSource Counted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completed when the turn may run: counted, and first of its key.</summary>
        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The deliveries of one channel: which tags have told their key, and the turns in flight per key, in tag order.</summary>
    internal sealed class Sequencer
    {
        private readonly object _gate = new();
        private readonly HashSet<ulong> _registeredAhead = [];
        private readonly Dictionary<ulong, Turn> _waiting = [];
        private readonly Dictionary<string, List<Turn>> _byKey = new(StringComparer.Ordinal);
        private ulong _registeredUpTo;

        /// <summary>Records the delivery; its turn is ready once every earlier tag has registered and its key's earlier turns are done.</summary>
        public Turn Register(ulong tag, string? key)
        {
            var turn = new Turn(tag, key);
            lock (_gate)
            {
                var late = tag <= _registeredUpTo;
                if (key is not null)
                {
                    // In tag order among its key's turns; a late one (given up on earlier) goes last, never ahead of what runs.
                    var turns = _byKey.TryGetValue(key, out var list) ? list : _byKey[key] = [];
                    var at = late ? -1 : turns.FindIndex(t => t.Tag > tag);
                    turns.Insert(at < 0 ? turns.Count : at, turn);
                }
                else
                {
                    // No key, no order to keep.
                    turn.Counted.TrySetResult();
                    turn.Ready.TrySetResult();
                }

                _waiting[tag] = turn;
                if (late)
                {
                    ReleaseIfFirst(turn);
                    return turn;
                }

                _registeredAhead.Add(tag);
                var from = _registeredUpTo;
                while (_registeredAhead.Remove(_registeredUpTo + 1))
                {
                    _registeredUpTo++;
                }

                for (var covered = from + 1; covered <= _registeredUpTo; covered++)
                {
                    if (_waiting.TryGetValue(covered, out var now))
                    {
                        ReleaseIfFirst(now);
                    }
                }
            }

            return turn;
        }

        /// <summary>Counts every tag before <paramref name="turn"/> as registered: the missing ones are not coming.</summary>
        public void GiveUpWaitingFor(Turn turn)
        {
            lock (_gate)
            {
                if (_registeredUpTo < turn.Tag - 1)
                {
                    var from = _registeredUpTo;
                    _registeredUpTo = turn.Tag - 1;
                    while (_registeredAhead.Remove(_registeredUpTo + 1))
                    {
                        _registeredUpTo++;
                    }

                    _registeredAhead.RemoveWhere(t => t <= _registeredUpTo);
                    foreach (var waiting in _waiting.Values.Where(w => w.Tag > from && w.Tag <= _registeredUpTo + 1).ToList())
                    {
                        ReleaseIfFirst(waiting);
                    }
                }

                ReleaseIfFirst(turn);
            }
        }

        /// <summary>The turn is over (handled, failed or cancelled): the next turn of its key may run.</summary>
        public void Done(Turn turn)
        {
            lock (_gate)
            {
                _waiting.Remove(turn.Tag);
                if (turn.Key is null || !_byKey.TryGetValue(turn.Key, out var turns))
                {
                    return;
                }

                turns.Remove(turn);
                if (turns.Count == 0)
                {
                    _byKey.Remove(turn.Key);
                }
                else
                {
                    ReleaseIfFirst(turns[0]);
                }
            }
        }

        private void ReleaseIfFirst(Turn turn)
        {
            // Every earlier delivery has told its key, so no earlier turn of this key can still appear.
            if (turn.Tag > _registeredUpTo + 1)
            {
                return;
            }

            turn.Counted.TrySetResult();
            if (turn.Key is null || _byKey[turn.Key][0] == turn)
            {
                turn.Ready.TrySetResult();
            }
        }
    }
}
