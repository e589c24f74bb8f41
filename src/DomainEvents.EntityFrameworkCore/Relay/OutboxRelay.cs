using System.Collections.Concurrent;
using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Monitoring;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The hosted service that moves outbox rows to the transport: claim a batch under a lease, send the
/// partitions concurrently (each partition in order, one confirmed message after the other), then record
/// what was confirmed, what failed (with back-off, or dead after the maximum attempts) and what was not tried.
/// Rows committed in this process are handed to it after their commit: it leases those by id, under the claim's
/// rules, and sends them from memory, without searching the table. A claim finds everything else.
/// </summary>
internal sealed class OutboxRelay<TContext> : BackgroundService, IHostedLifecycleService
    where TContext : DbContext
{
    private readonly CancellationTokenSource _draining = new();
    private readonly OutboxStore<TContext> _store;
    private readonly OutboxSignal.Subscription _signal;
    private readonly ConcurrentQueue<OutboxEnvelope> _committed = new();
    private int _committedCount;

    // Rows (id and message id, as a lease by id matches them) that the last claim over the table returned. A commit that
    // lands between the claim emptying the handover queue and the claim's snapshot hands over rows the claim also finds;
    // they are sent by the claim's batch and skipped here, instead of failing a lease by id, which would ask for another
    // claim over the table (and under a steady stream of commits, every claim would ask for the next). Used by the loop only.
    private readonly HashSet<(long Id, Guid MessageId)> _claimedOverTable = [];
    private volatile bool _closed;

    // The loop's last claim failed (the database is unreachable, a statement times out): set until one succeeds.
    private volatile bool _failing;
    // Claims over the table that left rows of busy keys behind, and batches whose outcome is recorded: each side counts
    // itself first, then reads the other's count, so a batch that freed keys and a claim that found them busy always
    // meet and ask for another claim.
    private long _claimsThatFoundBusyKeys;
    private long _lastClaimOverTable = Stopwatch.GetTimestamp();
    private long _claimsOverTable;
    private long _pollsWithoutClaim;

    // Rows handed over by commits that their lease left behind, until a claim over the table takes them or wakes other relays for them. Under its own lock.
    private readonly HashSet<(long Id, Guid MessageId)> _leftBehind = [];
    private long _wakeUpsSent;
    private int _wakingUp;
    private int _wakeUpAsked;
    private long _lastWakeUp;

    // The polling interval has passed since the relay last looked at the table (a claim over it, or a poll's question). Used by the loop only.
    private bool _pollDue;
    private long _batchesRecorded;
    private readonly IOutboxTransport _transport;
    private readonly OutboxRelayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DomainEventsHealth.Component? _health;
    // When (a Stopwatch timestamp) a batch last ran into an outage; 0 when a batch claimed after it got through.
    private long _outageAt;
    private readonly ConcurrentDictionary<Task, bool> _lateMarks = new();
    private readonly SemaphoreSlim _sends;
    private long _claims;

    // Until when (a Stopwatch timestamp) a row that a busy destination did not take keeps its lease: health says so.
    private long _heldUntil;

    // Until when (a Stopwatch timestamp) a row whose send outran its timeout and was not confirmed keeps this relay's lease.
    private long _lateLeasesUntil;

    /// <summary>Unique to this relay object, so replicas that share an instance name never share a lease owner.</summary>
    private readonly string _ownerPrefix;

    /// <summary>The outbox's name in metrics: its context's type name.</summary>
    private static string Outbox => typeof(TContext).Name;

    /// <summary>
    /// Batches claimed over the table that a relay sends at once: one being sent while the next is claimed. A third, while
    /// two hold the free keys, finds little and costs a full claim.
    /// </summary>
    internal const int MaxTableBatchesInFlight = 2;

    /// <summary>
    /// Batches of any kind a relay sends at once. Beyond the claims over the table, the others lease rows that commits
    /// handed over (one statement by id each), so that a commit's rows need not wait for a batch to finish.
    /// </summary>
    internal const int MaxBatchesInFlight = 8;

    /// <summary>
    /// Connections the relay keeps open between its statements (the loop's claims and leases one at a time, the marks of
    /// batches beside them), so that a statement pays neither for a new context nor for the pool's reset of its connection.
    /// </summary>
    internal const int KeptConnections = 4;

    /// <summary>Gets the relay's settings, configuration and code applied.</summary>
    internal OutboxRelayOptions Options => _options;

    public OutboxRelay(IServiceScopeFactory scopeFactory, OutboxSignal signal, IOutboxTransport transport, OutboxRelayOptions options, TimeProvider time, ILogger<OutboxRelay<TContext>> logger, DomainEventsHealth? health = null)
    {
        // A relay that has not finished a claim or a batch for a whole lease (plus one polling interval, which an idle relay
        // may wait between claims) is stuck: no batch may take that long.
        _health = health?.Register(DomainEventsHealth.Relay, $"relay {options.InstanceName} ({typeof(TContext).Name})", stalledAfter: options.LeaseDuration + options.PollingInterval);
        _store = new OutboxStore<TContext>(scopeFactory, keepOpen: KeptConnections);
        _transport = transport;
        _options = options;
        _time = time;
        _logger = logger;
        _sends = new SemaphoreSlim(options.MaxConcurrentSends, options.MaxConcurrentSends);
        _ownerPrefix = $"{options.InstanceName}#{Guid.NewGuid().ToString("N")[..8]}";

        // Last: from here on commits may hand rows over, and Offer reads the fields above.
        _signal = signal.Subscribe(typeof(TContext), Offer, Reads);
    }

    /// <summary>
    /// The relay keeps up to <see cref="MaxTableBatchesInFlight"/> batches claimed over the table going: it claims the next
    /// batch while the current one is being sent, so the broker is never idle while the database answers. Rows handed over
    /// by commits are leased and sent while up to <see cref="MaxBatchesInFlight"/> batches in all are going, so a commit's
    /// rows do not wait for a batch to finish. When a batch ends and a claim over the table is due, that claim goes first.
    /// Batches in flight never share a partition key: a claim takes a partition only when none of its pending rows is leased.
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken hostStopping)
    {
        // Stop claiming when the host starts stopping (StoppingAsync) or when this service is stopped, whichever is first.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, _draining.Token);
        var stoppingToken = stopping.Token;
        await Task.Yield();
        OutboxRelayLog.Started(_logger, _options.InstanceName);
        _health?.Healthy("running");
        var pause = TimeSpan.Zero;
        var inFlight = new List<Task<BatchResult>>(MaxBatchesInFlight);
        var tableBatches = new HashSet<Task<BatchResult>>(MaxTableBatchesInFlight);
        Task? wake = null;
        Task? poll = null;
        var pollAfter = 0L;
        var waiting = new List<Task>(MaxBatchesInFlight + 2);
        var claimNow = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var tableRoom = tableBatches.Count < MaxTableBatchesInFlight;
                if (claimNow && inFlight.Count < MaxBatchesInFlight)
                {
                    var batch = await ClaimAsync(overTable: tableRoom, idle: inFlight.Count == 0, stoppingToken).ConfigureAwait(false);
                    _failing = false;
                    if (batch.Count > 0)
                    {
                        var sending = SendBatchAsync(batch);
                        inFlight.Add(sending);
                        if (batch.Full)
                        {
                            tableBatches.Add(sending);
                        }
                    }

                    // A full batch says more rows may be waiting; after a partial one, wait for a reason to look again
                    // (rows handed over by commits are one).
                    var fullBatch = batch.Full && batch.Count == _options.BatchSize;
                    if (fullBatch)
                    {
                        _signal.ClaimSoon();
                    }

                    claimNow = fullBatch || !_committed.IsEmpty;
                    if (claimNow)
                    {
                        continue;
                    }
                }

                // Wait for a batch to finish (its partitions become free again), for a commit or a request to claim while
                // another batch may start, and for the polling interval while a claim over the table may start.
                if (inFlight.Count < MaxBatchesInFlight)
                {
                    wake ??= _signal.WaitAsync(stoppingToken);
                    if (poll is null && tableBatches.Count < MaxTableBatchesInFlight)
                    {
                        pollAfter = Volatile.Read(ref _lastClaimOverTable);
                        poll = Task.Delay(UntilNextPoll(), stoppingToken);
                    }
                }

                waiting.Clear();
                waiting.AddRange(inFlight);
                if (wake is not null)
                {
                    waiting.Add(wake);
                }

                if (poll is not null)
                {
                    waiting.Add(poll);
                }

                var finished = await Task.WhenAny(waiting).ConfigureAwait(false);
                claimNow = true;
                if (finished == wake)
                {
                    // Woken: by a commit, a notification or a request to claim.
                    await wake.ConfigureAwait(false);
                    wake = null;
                    continue;
                }

                if (finished == poll)
                {
                    // The polling interval has passed, unless a claim over the table ran after the timer was armed.
                    await poll.ConfigureAwait(false);
                    poll = null;
                    if (Volatile.Read(ref _lastClaimOverTable) == pollAfter)
                    {
                        _pollDue = true;
                    }

                    continue;
                }

                var done = (Task<BatchResult>)finished;
                inFlight.Remove(done);
                tableBatches.Remove(done);
                var result = await done.ConfigureAwait(false);
                if (result.TransportUnavailable is { } unavailable)
                {
                    // Let the other batches run into the outage too (their rows are released), then pause. One that got
                    // through as this one ran into it may have reported the relay healthy: not while it pauses.
                    await Task.WhenAll(inFlight).ConfigureAwait(false);
                    inFlight.Clear();
                    tableBatches.Clear();
                    ReportOutage(unavailable);
                    pause = NextPause(pause);
                    OutboxRelayLog.TransportUnavailable(_logger, unavailable, pause);
                    await Task.Delay(pause, _time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                pause = TimeSpan.Zero;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Rows handed over by commits and taken from the queue may not have been leased: a claim finds them. Until a
                // claim succeeds again, commits of this process also wake the relays of other processes (Reads).
                _failing = true;
                _signal.ClaimSoon();
                inFlight.RemoveAll(t => t.IsCompleted);
                tableBatches.RemoveWhere(t => t.IsCompleted);
                pause = NextPause(pause);
                OutboxRelayLog.LoopFailed(_logger, ex, pause);
                _health?.Problem(HealthStatus.Unhealthy, "claiming or recording failed: " + ex.Message, ex);
                try
                {
                    await Task.Delay(pause, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        // Rows already claimed are still sent and recorded; only new claims stop. Rows committed from now on are left
        // to a claim (another relay's, or this one's after a restart).
        Close();
        try
        {
            await Task.WhenAll(inFlight).ConfigureAwait(false);

            // Sends that ran past their timeout and may still be confirmed within their lease (each waits at most that long).
            await Task.WhenAll(_lateMarks.Keys).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OutboxRelayLog.LoopFailed(_logger, ex, TimeSpan.Zero);
        }
        finally
        {
            // Marks that outlive the loop (a send confirmed late) open a connection of their own from now on.
            await _store.StopKeepingAsync().ConfigureAwait(false);
        }

        OutboxRelayLog.Stopped(_logger, _options.InstanceName);
        _health?.Problem(HealthStatus.Unhealthy, "stopped", null);
    }

    /// <summary>
    /// Called on every hosted service before any is stopped: the relay claims nothing more and finishes the batches it
    /// has (sent and recorded, or released) while the bus is still running, whatever the order of registration.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        Close();
        await _draining.CancelAsync().ConfigureAwait(false);
        if (ExecuteTask is { } running)
        {
            // The host's shutdown timeout bounds the wait; what is not done by then keeps its lease until it expires.
            await running.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!running.IsCompleted)
            {
                OutboxRelayLog.DrainCutShort(_logger, _options.InstanceName);
            }
        }
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public override void Dispose()
    {
        Close();
        _store.Dispose();
        _health?.Dispose();
        _draining.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Claims and sends one batch. Used by tests to drive a relay step by step: a claim over the table, or, with
    /// <paramref name="committedOnly"/>, only the rows that commits of this process handed over.
    /// </summary>
    internal async Task<BatchResult> RunOnceAsync(CancellationToken stoppingToken, bool committedOnly = false)
    {
        if (!committedOnly)
        {
            _signal.ClaimSoon();
        }

        var claim = await ClaimAsync(overTable: true, idle: true, stoppingToken).ConfigureAwait(false);
        return claim.Count == 0 ? new BatchResult(0, 0, null) : await SendBatchAsync(claim).ConfigureAwait(false);
    }

    /// <summary>Rows handed over by commits and not yet leased, at most this many times the batch size; more are left to a claim.</summary>
    internal const int CommittedQueueBatches = 4;

    private TimeSpan UntilNextPoll()
    {
        var left = _options.PollingInterval - Stopwatch.GetElapsedTime(Volatile.Read(ref _lastClaimOverTable));
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>Claims over the table this relay has run.</summary>
    internal long ClaimsOverTable => Interlocked.Read(ref _claimsOverTable);

    /// <summary>Polls at which the relay found that a claim over the table could find nothing, and ran none.</summary>
    internal long PollsWithoutClaim => Interlocked.Read(ref _pollsWithoutClaim);

    /// <summary>Claims over the table that left rows because their keys were being sent.</summary>
    internal long ClaimsThatFoundBusyKeys => Interlocked.Read(ref _claimsThatFoundBusyKeys);

    /// <summary>Times the relay woke the relays of other processes for rows of this process's commits behind their keys.</summary>
    internal long WakeUpsSent => Interlocked.Read(ref _wakeUpsSent);

    /// <summary>Connections kept open between the relay's statements now.</summary>
    internal int ConnectionsKept => _store.OpenKept;

    /// <summary>Rows handed over by commits that wait for a lease.</summary>
    internal int CommittedWaiting => Volatile.Read(ref _committedCount);

    /// <summary>Takes rows that a commit of this process has just written, unless the relay is stopping or has enough waiting.</summary>
    private bool Offer(IReadOnlyList<OutboxMessage> rows)
    {
        if (_closed)
        {
            return false;
        }

        if (Interlocked.Add(ref _committedCount, rows.Count) > _options.BatchSize * CommittedQueueBatches)
        {
            Interlocked.Add(ref _committedCount, -rows.Count);
            return false;
        }

        foreach (var row in rows)
        {
            _committed.Enqueue(new OutboxEnvelope(
                row.Id,
                row.MessageId,
                row.MessageType,
                row.Version,
                row.Exchange,
                row.RoutingKey,
                row.PartitionKey,
                row.Payload,
                row.Headers,
                DateTime.SpecifyKind(row.OccurredAt, DateTimeKind.Utc),
                0));
        }

        return true;
    }

    /// <summary>
    /// Whether this relay takes what a commit on <paramref name="context"/> hands over, and claims the rest: it runs on the
    /// same server, database and outbox table as the context's connection and model name (its own last connection and
    /// model), and is not stopping, in a transport outage it knows of, failing to claim, or holding a full queue of rows
    /// handed over.
    /// </summary>
    private bool Reads(DbContext context) =>
        !_closed && !_failing && Volatile.Read(ref _outageAt) == 0
        && Volatile.Read(ref _committedCount) < _options.BatchSize * CommittedQueueBatches
        && _store.Database is { } database
        && string.Equals(database, OutboxStore<TContext>.DatabaseOf(context), StringComparison.Ordinal);

    private void Close()
    {
        if (!_closed)
        {
            _closed = true;
            _signal.Dispose();
        }
    }

    private List<OutboxEnvelope> TakeCommitted(int count)
    {
        var taken = new List<OutboxEnvelope>(Math.Min(count, Volatile.Read(ref _committedCount)));
        while (taken.Count < count && _committed.TryDequeue(out var row))
        {
            Interlocked.Decrement(ref _committedCount);
            if (!_claimedOverTable.Remove((row.Id, row.MessageId)))
            {
                taken.Add(row);
            }
        }

        return taken;
    }

    /// <summary>
    /// A claim over the table when one is due (asked for by a notification, the polling interval, a batch that freed keys
    /// or left rows behind) and <paramref name="overTable"/> allows it; otherwise a lease on the rows that commits of this
    /// process handed over, if any. A due claim that is not allowed stays due. <paramref name="idle"/>: no batch of this
    /// relay is in flight.
    /// </summary>
    private async Task<Claim> ClaimAsync(bool overTable, bool idle, CancellationToken stoppingToken)
    {
        // Once stopping, claim nothing more. A claim is never cancelled half way: the UPDATE may have leased
        // rows whose results would then never be read, leaving them to wait for the lease to expire.
        if (stoppingToken.IsCancellationRequested)
        {
            return Claim.None;
        }

        // Each claim leases under its own owner, so the outcome of one batch can never touch another's rows.
        // The lease is counted from before the statement: the relay's deadline is never later than the database's.
        var owner = $"{_ownerPrefix}#{Interlocked.Increment(ref _claims)}";
        var started = Stopwatch.GetTimestamp();
        var busyBefore = Interlocked.Read(ref _claimsThatFoundBusyKeys);

        // A look at the table at least every polling interval, however often commits wake the relay: rows whose retry is due,
        // whose lease ran out, or that other processes committed without a notification are found that way.
        var asked = overTable && _signal.TakeClaimDue();
        if (overTable && !asked && (_pollDue || UntilNextPoll() == TimeSpan.Zero))
        {
            _pollDue = false;
            Volatile.Write(ref _lastClaimOverTable, Stopwatch.GetTimestamp());

            // Only the polling interval calls for this claim. With no rows handed over waiting (a claim would take those too),
            // the relay first asks whether a claim could find anything, which takes no lease and not the claims' turn: an idle
            // poll then holds up neither the leases of the commits that follow nor other relays' claims.
            asked = !_committed.IsEmpty
                    || await _store.MayClaimAsync(owner, _ownerPrefix + "#", _options.BatchSize, _time.GetUtcNow().UtcDateTime, _options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
            if (asked)
            {
                // The claim's duration and its lease are counted from the claim itself (the lease still from before its statement).
                started = Stopwatch.GetTimestamp();
            }
            else
            {
                // What a claim that found nothing and no busy key would report (below).
                Interlocked.Increment(ref _pollsWithoutClaim);
                if (_lateMarks.IsEmpty && Stopwatch.GetTimestamp() >= Volatile.Read(ref _lateLeasesUntil))
                {
                    ReportRunning(Volatile.Read(ref _outageAt), "running; nothing waits to be sent");
                }
            }
        }

        if (asked)
        {
            _pollDue = false;
            Volatile.Write(ref _lastClaimOverTable, Stopwatch.GetTimestamp());
            Interlocked.Increment(ref _claimsOverTable);
            // Rows handed over until now were committed before this claim starts, so it sees them: they are left to it.
            LeaveBehind(TakeCommitted(int.MaxValue));
            _claimedOverTable.Clear();
            var recordedBefore = Interlocked.Read(ref _batchesRecorded);
            var (rows, foundBusyKeys) = await _store.ClaimAsync(owner, _ownerPrefix + "#", _options.BatchSize, _time.GetUtcNow().UtcDateTime, _options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
            foreach (var row in rows)
            {
                _claimedOverTable.Add((row.Id, row.MessageId));
            }

            RelayMetrics.Claimed(Outbox, Stopwatch.GetElapsedTime(started), rows.Count);
            var outageAt = Volatile.Read(ref _outageAt);
            var lateLeases = !_lateMarks.IsEmpty || Stopwatch.GetTimestamp() < Volatile.Read(ref _lateLeasesUntil);
            if (rows.Count == 0 && !lateLeases && (idle || !(foundBusyKeys && outageAt != 0)))
            {
                // Nothing waits. A send still awaiting its confirmation, or one that outran its timeout and was not
                // confirmed (its row keeps the lease until it runs out), is not "nothing"; in an outage, neither are keys
                // left busy by batches in flight: only a batch that gets through ends the outage. With no batch in flight,
                // busy keys are not this relay's (SQLite cannot tell: it always says some are).
                ReportRunning(outageAt, "running; nothing waits to be sent");
            }
            if (foundBusyKeys)
            {
                // Rows were left because their keys were being sent. A batch of this relay that is still going asks for a
                // claim when it is recorded; one recorded while this claim ran may have freed them already: claim again.
                Interlocked.Increment(ref _claimsThatFoundBusyKeys);
                if (Interlocked.Read(ref _batchesRecorded) != recordedBefore)
                {
                    _signal.ClaimSoon();
                }
            }

            if (StillLeftBehind(rows, foundBusyKeys || rows.Count == _options.BatchSize || _store.KeyScanUnfinished))
            {
                WakeOtherRelays();
            }

            return new Claim(owner, rows, started, Full: true, busyBefore);
        }

        var committed = TakeCommitted(_options.BatchSize);
        if (committed.Count == 0)
        {
            return Claim.None;
        }

        IReadOnlyCollection<(long Id, Guid MessageId)> leased;
        try
        {
            leased = await _store.ClaimCommittedAsync(owner, committed, _time.GetUtcNow().UtcDateTime, _options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
            RelayMetrics.Claimed(Outbox, Stopwatch.GetElapsedTime(started), leased.Count);
        }
        catch
        {
            _signal.ClaimSoon();
            throw;
        }

        var taken = leased as HashSet<(long Id, Guid MessageId)> ?? [.. leased];
        List<OutboxEnvelope> sending = [.. committed.Where(r => taken.Contains((r.Id, r.MessageId))).OrderBy(r => r.Id)];
        if (sending.Count < committed.Count)
        {
            // A key busy with another batch, an earlier row waiting, or a row taken meanwhile: a claim sees to them.
            LeaveBehind(committed.Where(r => !taken.Contains((r.Id, r.MessageId))));
            _signal.ClaimSoon();
        }

        return new Claim(owner, sending, started, Full: false, busyBefore);
    }

    /// <summary>
    /// Remembers rows handed over by commits that were not leased by id, until a claim over the table says whether it took
    /// them (<see cref="StillLeftBehind"/>). Only where notifications are registered (no one to wake otherwise), and at most
    /// as many as the queue of handed-over rows holds: past that the rows are forgotten and left to polls.
    /// </summary>
    private void LeaveBehind(IEnumerable<OutboxEnvelope> rows)
    {
        if (_store.HasNotifiers != true)
        {
            return;
        }

        lock (_leftBehind)
        {
            foreach (var row in rows)
            {
                if (_leftBehind.Count >= _options.BatchSize * CommittedQueueBatches)
                {
                    _leftBehind.Clear();
                    return;
                }

                _leftBehind.Add((row.Id, row.MessageId));
            }
        }
    }

    /// <summary>
    /// Whether rows a commit of this process handed over, not leased by id, are still not taken after a claim over the table
    /// that had room for them and found no key busy with this relay's own batches. Their key is then being sent by a relay
    /// of another process (or an earlier row of it waits for a retry). A commit whose process runs a relay notifies no other
    /// process, so that relay would not know to claim again once its batch is recorded: it is woken, once for the rows left
    /// (and at most once per <see cref="WakeUpGap"/>). A full claim, one that found keys of this relay busy, or one whose
    /// scan over keys stopped early is followed by another claim of this relay (at once, or when its batches are recorded),
    /// which asks again.
    /// </summary>
    private bool StillLeftBehind(IReadOnlyList<OutboxEnvelope> claimed, bool claimsAgain)
    {
        lock (_leftBehind)
        {
            if (_leftBehind.Count == 0)
            {
                return false;
            }

            foreach (var row in claimed)
            {
                _leftBehind.Remove((row.Id, row.MessageId));
            }

            if (_leftBehind.Count == 0 || claimsAgain)
            {
                return false;
            }

            _leftBehind.Clear();
            return true;
        }
    }

    /// <summary>
    /// Sends the context's commit notifications on a connection of their own, outside a transaction, without holding up the
    /// claim's batch. One at a time, and at most one per <see cref="WakeUpGap"/>: asks that come meanwhile are answered by
    /// the next one, sent after them. This bounds what two relays can cost each other when each one's claims take rows the
    /// other's commits handed over. Each takes at most <see cref="WakeUpTimeout"/>; a failure is logged and only leaves the
    /// other relays to their polls.
    /// </summary>
    private void WakeOtherRelays()
    {
        Volatile.Write(ref _wakeUpAsked, 1);
        if (Interlocked.CompareExchange(ref _wakingUp, 1, 0) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                while (!_closed && Interlocked.Exchange(ref _wakeUpAsked, 0) == 1)
                {
                    var wait = WakeUpGap - Stopwatch.GetElapsedTime(Volatile.Read(ref _lastWakeUp));
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait).ConfigureAwait(false);
                    }

                    Volatile.Write(ref _lastWakeUp, Stopwatch.GetTimestamp());
                    try
                    {
                        using var timeout = new CancellationTokenSource(WakeUpTimeout);
                        if (await _store.NotifyOtherProcessesAsync(timeout.Token).ConfigureAwait(false))
                        {
                            Interlocked.Increment(ref _wakeUpsSent);
                        }
                    }
                    catch (Exception ex) when (!_closed)
                    {
                        OutboxRelayLog.WakeUpFailed(_logger, ex);
                    }
                    catch (Exception)
                    {
                        // Stopping: the other relays poll.
                    }
                }
            }
            finally
            {
                Volatile.Write(ref _wakingUp, 0);
            }

            // Asked after the loop's last look and before the flag was cleared: that ask found a wake-up under way and left.
            if (!_closed && Volatile.Read(ref _wakeUpAsked) == 1)
            {
                WakeOtherRelays();
            }
        });
    }

    /// <summary>How long waking the relays of other processes may take.</summary>
    private static readonly TimeSpan WakeUpTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The least time between two wake-ups of the relays of other processes.</summary>
    private static readonly TimeSpan WakeUpGap = TimeSpan.FromMilliseconds(100);

    /// <summary>Sends a claimed batch, each partition in order, then records what was confirmed, failed or not tried.</summary>
    private async Task<BatchResult> SendBatchAsync(Claim claim)
    {
        var processed = new ConcurrentBag<long>();
        var released = new ConcurrentBag<long>();
        var failed = new ConcurrentBag<(OutboxEnvelope Row, Exception Error)>();
        Exception? unavailable = null;
        Exception? busy = null;

        // Sending goes on through shutdown for rows already claimed; only new claims stop. No send starts once half
        // the lease is spent: a send takes at most SendTimeout (at most a quarter of the lease), which leaves the
        // last quarter for recording the outcome before another claim may take the rows.
        var partitions = claim.Rows.GroupBy(r => r.PartitionKey, StringComparer.Ordinal);
        await Parallel.ForEachAsync(partitions, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxConcurrentSends }, async (partition, unused) =>
        {
            var blocked = false;
            foreach (var row in partition)
            {
                if (blocked || Volatile.Read(ref unavailable) is not null || claim.Elapsed >= _options.LeaseDuration / 2)
                {
                    released.Add(row.Id);
                    continue;
                }

                // One budget of sends in flight for all batches of this relay.
                await _sends.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    if (claim.Elapsed >= _options.LeaseDuration / 2)
                    {
                        released.Add(row.Id);
                        blocked = true;
                        continue;
                    }

                    switch (await SendOneAsync(row).ConfigureAwait(false))
                    {
                        case (SendOutcome.Confirmed, _, _):
                            processed.Add(row.Id);
                            RelayMetrics.Confirmed(Outbox, row, _time.GetUtcNow().UtcDateTime);
                            break;
                        case (SendOutcome.DestinationBusy, var error, _):
                            // Back-pressure on this row's route, not its fault: no attempt. The row keeps its lease, so
                            // its key stays busy and no claim takes it (nor sends to that route again for it) until the
                            // lease runs out; the rest of its key is released behind it, other keys go on.
                            Interlocked.CompareExchange(ref busy, error, null);
                            RelayMetrics.Busy(Outbox, row);
                            ExtendTo(ref _heldUntil, claim.LeaseEnd(_options.LeaseDuration));
                            OutboxRelayLog.DestinationBusy(_logger, error!, row.Exchange, row.RoutingKey, _time.GetUtcNow().UtcDateTime + (_options.LeaseDuration - claim.Elapsed));
                            blocked = true;
                            break;
                        case (SendOutcome.Unavailable, var error, _):
                            Interlocked.CompareExchange(ref unavailable, error, null);
                            released.Add(row.Id);
                            blocked = true;
                            break;
                        case (SendOutcome.StillSending, var error, var send):
                            // The transport did not give up when asked: the message may still go out, so the row keeps
                            // its lease rather than being offered to another claim now. Should the send be confirmed
                            // later, the row is marked then, while this claim still owns it; otherwise it goes out
                            // again once the lease expires.
                            Interlocked.CompareExchange(ref unavailable, error, null);
                            var late = MarkWhenConfirmedAsync(claim, row, send!);
                            _lateMarks.TryAdd(late, true);
                            _ = late.ContinueWith(static (t, marks) => ((ConcurrentDictionary<Task, bool>)marks!).TryRemove(t, out _), _lateMarks, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                            blocked = true;
                            break;
                        case (_, var error, _):
                            failed.Add((row, error!));
                            blocked = true;
                            break;
                    }
                }
                finally
                {
                    _sends.Release();
                }
            }
        }).ConfigureAwait(false);

        // Completion must be recorded even while stopping, so it does not use the stopping token.
        var completedAt = _time.GetUtcNow().UtcDateTime;
        var marked = await BookkeepAsync(claim, () => _store.MarkProcessedAsync([.. processed], claim.Owner, completedAt, CancellationToken.None)).ConfigureAwait(false);
        if (marked > 0)
        {
            RelayMetrics.Processed(Outbox, marked);
        }

        try
        {
            foreach (var (row, error) in failed)
            {
                await RecordFailureAsync(claim, row, error, completedAt).ConfigureAwait(false);
            }
        }
        finally
        {
            // Other keys of the batch are released even when recording a failure could not be done.
            await BookkeepAsync(claim, () => _store.ReleaseAsync([.. released], claim.Owner, CancellationToken.None)).ConfigureAwait(false);
        }

        // The batch's keys are free now. Claim over the table again when it left rows behind, when such a claim found keys
        // of this relay busy while this batch was going (they may be this batch's keys), or when it came from a claim whose
        // scan over keys stopped before the last key (the keys after it are reached in turn). A full batch is followed by
        // a claim anyway (the loop claims again at once).
        Interlocked.Increment(ref _batchesRecorded);
        if (!released.IsEmpty || Interlocked.Read(ref _claimsThatFoundBusyKeys) != claim.BusyClaimsBefore || (claim.Full && _store.KeyScanUnfinished))
        {
            _signal.ClaimSoon();
        }

        // Only a batch claimed after the last outage began can end it: one that was already sending may get through while
        // the relay pauses for the outage another batch ran into.
        var outageAt = Volatile.Read(ref _outageAt);
        if (unavailable is not null)
        {
            ReportOutage(unavailable);
        }
        else if (claim.StartedAt > outageAt)
        {
            ReportRunning(outageAt, "running", busy);
        }

        return new BatchResult(claim.Count, processed.Count, unavailable);
    }

    /// <summary>
    /// One send, bounded by <see cref="OutboxRelayOptions.SendTimeout"/> from the moment it starts. Only an error of the
    /// message's own counts as an attempt; an unreachable or blocked transport and a send that ran out of time are an
    /// outage (nothing is counted: back-pressure is not the message's fault).
    /// </summary>
    private Task<(SendOutcome Outcome, Exception? Error, Task? StillSending)> SendOneAsync(OutboxEnvelope row) =>
        DomainEventsTracing.Source.HasListeners() ? SendTracedAsync(row) : SendWithinTimeoutAsync(row);

    private async Task<(SendOutcome Outcome, Exception? Error, Task? StillSending)> SendTracedAsync(OutboxEnvelope row)
    {
        using var activity = StartPublishActivity(row);
        var result = await SendWithinTimeoutAsync(row).ConfigureAwait(false);
        if (activity is not null && result.Outcome != SendOutcome.Confirmed)
        {
            activity.SetStatus(ActivityStatusCode.Error, result.Error?.Message);
            activity.SetTag("domainevents.publish.outcome", result.Outcome.ToString());
        }

        return result;
    }

    /// <summary>
    /// A producer span for one message, whose parent is the trace context stored with the row (the saving transaction's),
    /// so the publish and the consumers that follow it join the saving request's trace. The transport sees it as the
    /// current activity and writes its context into the message.
    /// </summary>
    private static Activity? StartPublishActivity(OutboxEnvelope row)
    {
        StoredHeaders stored;
        try
        {
            stored = StoredHeaders.Parse(row.Headers);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            // Headers the transport cannot read either: the send fails as it would without tracing, and is counted then.
            return null;
        }

        ActivityContext.TryParse(stored.TraceParent, stored.TraceState, isRemote: true, out var parent);
        var activity = DomainEventsTracing.Source.StartActivity("publish " + row.Exchange, ActivityKind.Producer, parent);
        if (activity is null)
        {
            return null;
        }

        activity.SetTag("messaging.operation.type", "send");
        activity.SetTag("messaging.operation.name", "publish");
        activity.SetTag("messaging.destination.name", row.Exchange);
        activity.SetTag("messaging.message.id", row.MessageId.ToString());
        activity.SetTag("domainevents.message.type", row.MessageType);
        activity.SetTag("domainevents.routing_key", row.RoutingKey);
        activity.SetTag("domainevents.partition_key", row.PartitionKey);
        DomainEventsTracing.AddBaggage(activity, stored.Baggage);
        return activity;
    }

    private async Task<(SendOutcome Outcome, Exception? Error, Task? StillSending)> SendWithinTimeoutAsync(OutboxEnvelope row)
    {
        using var timeout = new CancellationTokenSource(_options.SendTimeout);
        Task send;
        try
        {
            send = _transport.SendAsync(row, timeout.Token);
        }
        catch (Exception ex)
        {
            send = Task.FromException(ex);
        }

        try
        {
            await send.WaitAsync(timeout.Token).ConfigureAwait(false);
            return (SendOutcome.Confirmed, null, null);
        }
        catch (TransportUnavailableException ex)
        {
            return (SendOutcome.Unavailable, ex, null);
        }
        catch (DestinationBusyException ex)
        {
            return (SendOutcome.DestinationBusy, ex, null);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
        {
            var error = new TransportUnavailableException($"Sending did not complete within {_options.SendTimeout}.", ex);
            if (!send.IsCompleted)
            {
                // A transport that honours the token ends its send now; give it a moment to say so.
                await Task.WhenAny(send, Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None)).ConfigureAwait(false);
            }

            if (!send.IsCompleted)
            {
                return (SendOutcome.StillSending, error, send);
            }

            return (send.IsCompletedSuccessfully ? SendOutcome.Confirmed : SendOutcome.Unavailable, send.IsCompletedSuccessfully ? null : error, null);
        }
        catch (Exception ex)
        {
            return (SendOutcome.Failed, ex, null);
        }
    }

    /// <summary>
    /// Waits, at most until the claim's lease runs out, for a send that went on past its timeout. If the transport
    /// confirms it, the row is marked processed under the claim's lease, so it is not sent a second time when the lease
    /// expires; the mark matches nothing if another claim has taken the row by then. A failure or no answer leaves the
    /// row to be sent again after the lease, which is the at-least-once rule.
    /// </summary>
    private async Task MarkWhenConfirmedAsync(Claim claim, OutboxEnvelope row, Task send)
    {
        try
        {
            var left = _options.LeaseDuration - claim.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                _ = send.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                return;
            }

            await send.WaitAsync(left).ConfigureAwait(false);
            var marked = await BookkeepAsync(claim, () => _store.MarkProcessedAsync([row.Id], claim.Owner, _time.GetUtcNow().UtcDateTime, CancellationToken.None)).ConfigureAwait(false);
            if (marked > 0)
            {
                RelayMetrics.Processed(Outbox, marked);
                OutboxRelayLog.ConfirmedLate(_logger, row.MessageType, row.MessageId);

                // The key is free again: its next rows need not wait for the polling interval.
                _signal.ClaimSoon();
            }
        }
        catch (Exception ex)
        {
            // Not confirmed in time, refused, or the mark could not be written: the lease runs out and the row goes again.
            ExtendTo(ref _lateLeasesUntil, claim.LeaseEnd(_options.LeaseDuration));
            _ = send.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            try
            {
                if (send.IsCompletedSuccessfully)
                {
                    OutboxRelayLog.ConfirmedLateNotMarked(_logger, ex, row.MessageType, row.MessageId);
                }
                else
                {
                    OutboxRelayLog.NotConfirmedLate(_logger, ex, row.MessageType, row.MessageId);
                }
            }
            catch (Exception)
            {
                // A logger disposed with the host; nothing more to do for this row.
            }
        }
    }

    /// <summary>
    /// Runs a statement that records a batch's outcome, retrying a failure briefly while the claim's lease lasts: a
    /// confirmed message whose mark is lost would be sent again once the lease expires.
    /// </summary>
    private async Task<int> BookkeepAsync(Claim claim, Func<Task<int>> write)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await write().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not ObjectDisposedException && attempt < BookkeepingAttempts && claim.Elapsed + BookkeepingDelay(attempt) < _options.LeaseDuration)
            {
                OutboxRelayLog.BookkeepingFailed(_logger, ex, attempt);
                await Task.Delay(BookkeepingDelay(attempt), _time, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private const int BookkeepingAttempts = 5;

    private static TimeSpan BookkeepingDelay(int attempt) => TimeSpan.FromMilliseconds(100 * (1 << attempt));

    private async Task RecordFailureAsync(Claim claim, OutboxEnvelope row, Exception error, DateTime now)
    {
        var attempts = row.Attempts + 1;
        var dead = attempts >= _options.MaxAttempts || error is PermanentDeliveryException;
        var backoff = Backoff(attempts);
        if (error is DeferredDeliveryException { RetryAfter: var retryAfter } && retryAfter > backoff)
        {
            // A transport's wait is its destination's word (a Retry-After); past the longest interval it would run off the calendar.
            backoff = retryAfter < OutboxRelayOptions.MaxInterval ? retryAfter : OutboxRelayOptions.MaxInterval;
        }

        var message = $"{error.GetType().Name}: {error.Message}";
        await BookkeepAsync(claim, () => _store.MarkFailedAsync(row.Id, claim.Owner, attempts, dead, now, backoff, message, CancellationToken.None)).ConfigureAwait(false);
        RelayMetrics.Failed(Outbox, row, dead);
        if (dead)
        {
            OutboxRelayLog.Dead(_logger, row.MessageType, row.MessageId, attempts, message);
        }
        else
        {
            OutboxRelayLog.SendFailed(_logger, error, row.MessageType, row.MessageId, row.Exchange, row.RoutingKey, attempts, now + backoff);
        }
    }

    /// <summary>Exponential back-off with jitter: base * 2^(attempts - 1), capped, then scaled by a random 50-100%.</summary>
    internal TimeSpan Backoff(int attempts)
    {
        var exponent = Math.Min(attempts - 1, 30);
        var delay = Math.Min(_options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, exponent), _options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay * (0.5 + (Random.Shared.NextDouble() * 0.5)));
    }

    private static void ExtendTo(ref long field, long until)
    {
        for (var before = Volatile.Read(ref field); until > before; before = Volatile.Read(ref field))
        {
            if (Interlocked.CompareExchange(ref field, until, before) == before)
            {
                return;
            }
        }
    }

    private void ReportOutage(Exception unavailable)
    {
        Volatile.Write(ref _outageAt, Stopwatch.GetTimestamp());
        _health?.Problem(HealthStatus.Unhealthy, "the transport is unavailable; rows wait, no attempt is counted: " + unavailable.Message, unavailable);
    }

    /// <summary>
    /// Ends the outage seen at <paramref name="outageAt"/> (0: none) and reports the relay healthy, or degraded while a row a
    /// busy destination did not take keeps its lease; nothing when a batch has reported an outage since.
    /// </summary>
    private void ReportRunning(long outageAt, string description, Exception? busy = null)
    {
        if (Interlocked.CompareExchange(ref _outageAt, 0, outageAt) == outageAt && !ReportHeldRows(busy))
        {
            _health?.Healthy(description);
        }
    }

    /// <summary>Reports the relay as degraded while a row that a busy destination did not take keeps its lease.</summary>
    private bool ReportHeldRows(Exception? busy = null)
    {
        if (Stopwatch.GetTimestamp() >= Volatile.Read(ref _heldUntil))
        {
            return false;
        }

        _health?.Problem(HealthStatus.Degraded, "a destination took nothing (back-pressure); its rows keep their lease until it runs out, no attempt is counted" + (busy is null ? "" : ": " + busy.Message), busy);
        return true;
    }

    private TimeSpan NextPause(TimeSpan pause) =>
        pause == TimeSpan.Zero
            ? TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(250).Ticks, _options.MaxOutagePause.Ticks))
            : TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, _options.MaxOutagePause.Ticks));

    internal readonly record struct BatchResult(int Claimed, int Processed, Exception? TransportUnavailable);

    private enum SendOutcome
    {
        Confirmed,
        Failed,
        Unavailable,
        StillSending,
        DestinationBusy,
    }

    /// <summary>
    /// One claimed batch: its rows, the lease owner that only this claim uses, when the claim started, whether it was a
    /// claim over the table (or of rows handed over by commits), and how many claims had found busy keys by then.
    /// </summary>
    private sealed record Claim(string Owner, IReadOnlyList<OutboxEnvelope> Rows, long StartedAt, bool Full, long BusyClaimsBefore)
    {
        public static readonly Claim None = new(string.Empty, [], 0, false, 0);

        public int Count => Rows.Count;

        public TimeSpan Elapsed => Stopwatch.GetElapsedTime(StartedAt);

        /// <summary>When (a Stopwatch timestamp) the claim's lease runs out.</summary>
        public long LeaseEnd(TimeSpan lease) => StartedAt + (long)(lease.TotalSeconds * Stopwatch.Frequency);
    }
}
