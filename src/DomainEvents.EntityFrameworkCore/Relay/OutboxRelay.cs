using System.Collections.Concurrent;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The hosted service that moves outbox rows to the transport: claim a batch under a lease, send the
/// partitions concurrently (each partition in order, one confirmed message after the other), then record
/// what was confirmed, what failed (with back-off, or dead after the maximum attempts) and what was not tried.
/// </summary>
internal sealed class OutboxRelay<TContext> : BackgroundService
    where TContext : DbContext
{
    private readonly OutboxStore<TContext> _store;
    private readonly OutboxSignal _signal;
    private readonly IOutboxTransport _transport;
    private readonly OutboxRelayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sends;
    private DateTime _nextCleanup;

    /// <summary>Batches a relay sends at once: one being sent while the next is claimed.</summary>
    internal const int MaxBatchesInFlight = 2;

    public OutboxRelay(IServiceScopeFactory scopeFactory, OutboxSignal signal, IOutboxTransport transport, OutboxRelayOptions options, TimeProvider time, ILogger<OutboxRelay<TContext>> logger)
    {
        _store = new OutboxStore<TContext>(scopeFactory);
        _signal = signal;
        _transport = transport;
        _options = options;
        _time = time;
        _logger = logger;
        _sends = new SemaphoreSlim(options.MaxConcurrentSends, options.MaxConcurrentSends);
    }

    /// <summary>
    /// The relay keeps up to <see cref="MaxBatchesInFlight"/> batches going: it claims the next batch while the
    /// current one is being sent, so the broker is never idle while the database answers. Two batches in flight
    /// never share a partition key: a claim takes a partition only when its first pending row is not leased.
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        OutboxRelayLog.Started(_logger, _options.InstanceName);
        var pause = TimeSpan.Zero;
        var inFlight = new List<Task<BatchResult>>(MaxBatchesInFlight);
        Task<bool>? wake = null;
        var claimNow = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CleanupIfDueAsync(stoppingToken).ConfigureAwait(false);
                if (claimNow && inFlight.Count < MaxBatchesInFlight)
                {
                    var batch = await ClaimAsync(stoppingToken).ConfigureAwait(false);
                    if (batch.Count > 0)
                    {
                        inFlight.Add(SendBatchAsync(batch));
                    }

                    // A full batch says more rows may be waiting; after a partial one, wait for a reason to look again.
                    claimNow = batch.Count == _options.BatchSize;
                    if (claimNow)
                    {
                        continue;
                    }
                }

                // Wait for a batch to finish (its partitions become free again), a commit, or the polling interval.
                if (inFlight.Count < MaxBatchesInFlight)
                {
                    wake ??= _signal.WaitAsync(_options.PollingInterval, stoppingToken);
                }

                var finished = await Task.WhenAny(wake is null ? inFlight : [.. inFlight, wake]).ConfigureAwait(false);
                if (finished == wake)
                {
                    wake = null;
                    claimNow = true;
                    continue;
                }

                var done = (Task<BatchResult>)finished;
                inFlight.Remove(done);
                claimNow = true;
                var result = await done.ConfigureAwait(false);
                if (result.TransportUnavailable is { } unavailable)
                {
                    // Let the other batch run into the outage too (its rows are released), then pause.
                    await Task.WhenAll(inFlight).ConfigureAwait(false);
                    inFlight.Clear();
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
                inFlight.RemoveAll(t => t.IsCompleted);
                pause = NextPause(pause);
                OutboxRelayLog.LoopFailed(_logger, ex, pause);
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

        // Rows already claimed are still sent and recorded; only new claims stop.
        try
        {
            await Task.WhenAll(inFlight).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OutboxRelayLog.LoopFailed(_logger, ex, TimeSpan.Zero);
        }

        OutboxRelayLog.Stopped(_logger, _options.InstanceName);
    }

    /// <summary>Claims and sends one batch. Used by tests to drive a relay step by step.</summary>
    internal async Task<BatchResult> RunOnceAsync(CancellationToken stoppingToken)
    {
        var batch = await ClaimAsync(stoppingToken).ConfigureAwait(false);
        return batch.Count == 0 ? new BatchResult(0, 0, null) : await SendBatchAsync(batch).ConfigureAwait(false);
    }

    private Task<List<OutboxEnvelope>> ClaimAsync(CancellationToken stoppingToken)
    {
        // Once stopping, claim nothing more. A claim is never cancelled half way: the UPDATE may have leased
        // rows whose results would then never be read, leaving them to wait for the lease to expire.
        if (stoppingToken.IsCancellationRequested)
        {
            return Task.FromResult(new List<OutboxEnvelope>());
        }

        var now = _time.GetUtcNow().UtcDateTime;
        return _store.ClaimAsync(_options.InstanceName, _options.BatchSize, now, now + _options.LeaseDuration, CancellationToken.None);
    }

    /// <summary>Sends a claimed batch, each partition in order, then records what was confirmed, failed or not tried.</summary>
    private async Task<BatchResult> SendBatchAsync(List<OutboxEnvelope> batch)
    {
        var processed = new ConcurrentBag<long>();
        var released = new ConcurrentBag<long>();
        var failed = new ConcurrentBag<(OutboxEnvelope Row, Exception Error)>();
        var unreachable = new ConcurrentBag<(OutboxEnvelope Row, Exception Error)>();
        Exception? unavailable = null;

        // Sending goes on through shutdown for rows already claimed; only new claims stop.
        var partitions = batch.GroupBy(r => r.PartitionKey, StringComparer.Ordinal);
        await Parallel.ForEachAsync(partitions, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxConcurrentSends }, async (partition, _) =>
        {
            var blocked = false;
            foreach (var row in partition)
            {
                if (blocked || Volatile.Read(ref unavailable) is not null)
                {
                    released.Add(row.Id);
                    continue;
                }

                // One budget of sends in flight for all batches of this relay.
                await _sends.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    // The transport may queue a send behind another; the token bounds the whole call.
                    using var timeout = new CancellationTokenSource(_options.SendTimeout * 3);
                    await _transport.SendAsync(row, timeout.Token).ConfigureAwait(false);
                    processed.Add(row.Id);
                }
                catch (TransportUnavailableException ex)
                {
                    Interlocked.CompareExchange(ref unavailable, ex, null);
                    unreachable.Add((row, ex));
                    blocked = true;
                }
                catch (OperationCanceledException ex)
                {
                    var timeout = new TransportUnavailableException($"Sending timed out after {_options.SendTimeout * 3}.", ex);
                    Interlocked.CompareExchange(ref unavailable, timeout, null);
                    unreachable.Add((row, timeout));
                    blocked = true;
                }
                catch (Exception ex)
                {
                    failed.Add((row, ex));
                    blocked = true;
                }
                finally
                {
                    _sends.Release();
                }
            }
        }).ConfigureAwait(false);

        // When other messages of the batch got through, the transport was up: those failures belong to their
        // messages and count as attempts. Otherwise it is an outage: nothing is counted and the relay pauses.
        if (!processed.IsEmpty)
        {
            foreach (var attempt in unreachable)
            {
                failed.Add(attempt);
            }

            unavailable = null;
        }
        else
        {
            foreach (var (row, _) in unreachable)
            {
                released.Add(row.Id);
            }
        }

        // Completion must be recorded even while stopping, so it does not use the stopping token.
        var completedAt = _time.GetUtcNow().UtcDateTime;
        var marked = await _store.MarkProcessedAsync([.. processed], _options.InstanceName, completedAt, CancellationToken.None).ConfigureAwait(false);
        if (marked > 0)
        {
            RelayMetrics.Processed(marked, _options.InstanceName);
        }

        foreach (var (row, error) in failed)
        {
            await RecordFailureAsync(row, error, completedAt).ConfigureAwait(false);
        }

        await _store.ReleaseAsync([.. released], _options.InstanceName, CancellationToken.None).ConfigureAwait(false);
        return new BatchResult(batch.Count, processed.Count, unavailable);
    }

    private async Task RecordFailureAsync(OutboxEnvelope row, Exception error, DateTime now)
    {
        var attempts = row.Attempts + 1;
        var dead = attempts >= _options.MaxAttempts || error is PermanentDeliveryException;
        var backoff = Backoff(attempts);
        if (error is DeferredDeliveryException { RetryAfter: var retryAfter } && retryAfter > backoff)
        {
            backoff = retryAfter;
        }

        var next = now + backoff;
        var message = $"{error.GetType().Name}: {error.Message}";
        await _store.MarkFailedAsync(row.Id, _options.InstanceName, attempts, dead, next, message, CancellationToken.None).ConfigureAwait(false);
        RelayMetrics.Failed(row.MessageType, dead);
        if (dead)
        {
            OutboxRelayLog.Dead(_logger, row.MessageType, row.MessageId, attempts, message);
        }
        else
        {
            OutboxRelayLog.SendFailed(_logger, error, row.MessageType, row.MessageId, row.Exchange, row.RoutingKey, attempts, next);
        }
    }

    /// <summary>Exponential back-off with jitter: base * 2^(attempts - 1), capped, then scaled by a random 50-100%.</summary>
    internal TimeSpan Backoff(int attempts)
    {
        var exponent = Math.Min(attempts - 1, 30);
        var delay = Math.Min(_options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, exponent), _options.RetryMaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay * (0.5 + (Random.Shared.NextDouble() * 0.5)));
    }

    private async Task CleanupIfDueAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (now < _nextCleanup)
        {
            return;
        }

        _nextCleanup = now + _options.CleanupInterval;
        var cutoff = now - _options.ProcessedRetention;
        int deleted;
        do
        {
            deleted = await _store.DeleteProcessedAsync(cutoff, _options.CleanupBatchSize, cancellationToken).ConfigureAwait(false);
            if (deleted > 0)
            {
                OutboxRelayLog.CleanedUp(_logger, deleted, cutoff);
            }
        }
        while (deleted == _options.CleanupBatchSize && !cancellationToken.IsCancellationRequested);
    }

    private TimeSpan NextPause(TimeSpan pause) =>
        pause == TimeSpan.Zero
            ? TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(250).Ticks, _options.MaxOutagePause.Ticks))
            : TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, _options.MaxOutagePause.Ticks));

    internal readonly record struct BatchResult(int Claimed, int Processed, Exception? TransportUnavailable);
}
