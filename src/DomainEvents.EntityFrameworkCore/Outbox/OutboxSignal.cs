using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// Wakes the relays of this process. A commit in this process hands its rows to a relay of the same context, which can
/// send them without looking for them; anything else (a commit no relay here took, another process's NOTIFY, an
/// operator's retry) tells every relay to claim.
/// </summary>
internal sealed class OutboxSignal : IOutboxWakeUp
{
    private readonly Lock _gate = new();
    private Subscription[] _subscriptions = [];

    /// <summary>Names this signal in NOTIFY payloads, so that the listener of this process can skip its own commits.</summary>
    public string Token { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Rows may be waiting that no relay of this process was handed: every relay of that context (or of all, for <see langword="null"/>) claims.</summary>
    public void Notify(Type? contextType = null)
    {
        foreach (var subscription in Volatile.Read(ref _subscriptions))
        {
            if (contextType is null || subscription.ContextType.IsAssignableFrom(contextType))
            {
                subscription.ClaimSoon();
            }
        }
    }

    /// <summary>A NOTIFY arrived for a context's outbox. One sent by a commit of this process is skipped: its rows were handed over, or a claim was asked for.</summary>
    public void NotifyFromNotification(string? payload, Type? contextType = null)
    {
        if (!string.Equals(payload, Token, StringComparison.Ordinal))
        {
            Notify(contextType);
        }
    }

    string IOutboxWakeUp.ProcessToken => Token;

    void IOutboxWakeUp.Wake(Type contextType) => Notify(contextType);

    void IOutboxWakeUp.WakeFromNotification(string? payload, Type contextType) => NotifyFromNotification(payload, contextType);

    /// <summary>
    /// Whether a relay of the context's type runs in this process on the context's outbox (the same server, database and
    /// table) and can take more: it takes what a commit of the context hands over, and claims the rest when woken here.
    /// </summary>
    public bool HasRelayFor(DbContext context)
    {
        var contextType = context.GetType();
        foreach (var subscription in Volatile.Read(ref _subscriptions))
        {
            if (subscription.ContextType == contextType && subscription.Reads?.Invoke(context) == true)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A transaction of <paramref name="contextType"/> committed <paramref name="rows"/>. The first relay of that context
    /// that takes them sends them; when none does, every relay claims.
    /// </summary>
    public void Committed(Type contextType, IReadOnlyList<OutboxMessage> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        Relay.RelayMetrics.Written(contextType.Name, rows.Count);

        foreach (var subscription in Volatile.Read(ref _subscriptions))
        {
            if (subscription.ContextType == contextType && subscription.Offer(rows))
            {
                return;
            }
        }

        Notify(contextType);
    }

    /// <summary>
    /// Starts waking a relay of <paramref name="contextType"/>; <paramref name="offer"/> takes rows committed in this process,
    /// or refuses them; <paramref name="reads"/>, if given, says whether the relay takes what a commit of a context hands over.
    /// </summary>
    public Subscription Subscribe(Type contextType, Func<IReadOnlyList<OutboxMessage>, bool> offer, Func<DbContext, bool>? reads = null)
    {
        var subscription = new Subscription(this, contextType, offer, reads);
        lock (_gate)
        {
            _subscriptions = [.. _subscriptions, subscription];
        }

        return subscription;
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_gate)
        {
            _subscriptions = [.. _subscriptions.Where(s => s != subscription)];
        }
    }

    /// <summary>One relay's wake-ups: whether a claim is due, and a wait that a commit or a notification ends.</summary>
    internal sealed class Subscription : IDisposable
    {
        private readonly OutboxSignal _signal;
        private readonly Func<IReadOnlyList<OutboxMessage>, bool> _offer;
        private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
            SingleWriter = false,
        });

        // A claim is due at first: rows may have been committed before the relay started.
        private int _claimDue = 1;

        internal Subscription(OutboxSignal signal, Type contextType, Func<IReadOnlyList<OutboxMessage>, bool> offer, Func<DbContext, bool>? reads)
        {
            _signal = signal;
            ContextType = contextType;
            _offer = offer;
            Reads = reads;
        }

        public Type ContextType { get; }

        /// <summary>Gets whether the relay takes what a commit of a context hands over, if it says.</summary>
        public Func<DbContext, bool>? Reads { get; }

        /// <summary>Asks for a claim and wakes the relay.</summary>
        public void ClaimSoon()
        {
            Volatile.Write(ref _claimDue, 1);
            Wake();
        }

        /// <summary>Whether a claim was asked for since the last call.</summary>
        public bool TakeClaimDue() => Interlocked.Exchange(ref _claimDue, 0) == 1;

        /// <summary>Wakes the relay; cheap, and coalesces while it is not waiting.</summary>
        public void Wake() => _wake.Writer.TryWrite(true);

        /// <summary>Waits until the relay is woken: at once if it was woken since the last wait. One wait at a time.</summary>
        public Task WaitAsync(CancellationToken cancellationToken) => _wake.Reader.ReadAsync(cancellationToken).AsTask();

        internal bool Offer(IReadOnlyList<OutboxMessage> rows)
        {
            if (!_offer(rows))
            {
                return false;
            }

            Wake();
            return true;
        }

        public void Dispose() => _signal.Unsubscribe(this);
    }
}
