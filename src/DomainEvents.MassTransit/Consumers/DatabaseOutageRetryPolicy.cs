using MassTransit;
using MassTransit.RetryPolicies;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Waits out a database that is away: the message is tried again after each interval in turn. On an endpoint that keeps
/// order (<paramref name="untilItAnswers"/>), the last interval then repeats for as long as the database cannot be reached
/// (<see cref="TransientDatabaseErrors.IsAway"/>), since the next message of the key may not go before this one and an
/// outage is not the message's fault. A transient error that may be the message's own doing (a deadlock) ends the waits
/// after the last interval, as on other endpoints. Each wait past the intervals is logged as a warning, and a held message
/// counts in <paramref name="held"/> (the <c>domainevents-inbox</c> health check) until it is done with.
/// </summary>
/// <remarks>
/// When the bus stops (<paramref name="stopping"/>) the message goes back to its queue: a wait under way ends, and an
/// attempt that fails from then on is not retried; either throws <see cref="OperationCanceledException"/>, which
/// MassTransit answers by returning the message, never by moving it to the error queue. The wait is made here, in
/// <see cref="RetryContext.PreRetry"/>, and not by MassTransit's retry filter: that filter leaves its loop without a word
/// when its token is cancelled between two attempts, and the message, neither consumed nor faulted, would be dead-lettered.
/// </remarks>
internal sealed partial class DatabaseOutageRetryPolicy(IExceptionFilter filter, TimeSpan[] intervals, bool untilItAnswers, CancellationToken stopping, ILogger logger,
    HeldMessages? held = null)
    : IRetryPolicy
{
    public bool IsHandled(Exception exception) => filter.Match(exception);

    public RetryPolicyContext<T> CreatePolicyContext<T>(T context)
        where T : class, PipeContext => new PolicyContext<T>(this, context);

    public void Probe(ProbeContext context)
    {
        context.Set(new { Policy = "DatabaseOutage", Limit = intervals.Length, UntilTheDatabaseAnswers = untilItAnswers, Intervals = intervals });
        filter.Probe(context);
    }

    /// <summary>Whether to try again after <paramref name="retryAttempt"/> retries; once the bus is stopping, the message goes back to its queue.</summary>
    private bool MayRetry(int retryAttempt, Exception exception)
    {
        if (!IsHandled(exception))
        {
            return false;
        }

        stopping.ThrowIfCancellationRequested();
        return retryAttempt < intervals.Length || (untilItAnswers && TransientDatabaseErrors.IsAway(exception));
    }

    /// <summary>
    /// The wait before retry <paramref name="retryAttempt"/>, logged once past the intervals: the first of those holds the
    /// message, each later one updates the error the health check shows.
    /// </summary>
    private async Task WaitAsync(PipeContext context, Exception exception, int retryAttempt, Hold hold, CancellationToken cancellationToken)
    {
        var interval = intervals[Math.Min(retryAttempt, intervals.Length) - 1];
        if (retryAttempt > intervals.Length)
        {
            LogHeld(logger, exception, (context as ConsumeContext)?.MessageId, retryAttempt, interval);
            if (held is not null)
            {
                if (hold.Counted)
                {
                    held.StillHeld(exception);
                }
                else
                {
                    hold.Counted = true;
                    held.Holding(exception);
                }
            }
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellationToken);
        await Task.Delay(interval, either.Token).ConfigureAwait(false);
    }

    private void Released() => held?.Released();

    [LoggerMessage(1, LogLevel.Warning, "The database is away: message {MessageId} is held, so that its key's order is kept, and tried again (attempt {Attempt}) every {Interval} until the database answers")]
    private static partial void LogHeld(ILogger logger, Exception exception, Guid? messageId, int attempt, TimeSpan interval);

    /// <summary>Whether one message's waits have counted it as held.</summary>
    private sealed class Hold
    {
        public bool Counted { get; set; }
    }

    /// <summary>
    /// One message's retries. MassTransit's retry filter disposes it when it is done with the message, whatever the outcome:
    /// that is where a held message stops counting.
    /// </summary>
    private sealed class PolicyContext<T> : RetryPolicyContext<T>
        where T : class, PipeContext
    {
        private readonly DatabaseOutageRetryPolicy _policy;
        private readonly Hold _hold = new();
        private CancellationTokenSource? _cancellation;
        private CancellationTokenRegistration _registration;
        private int _disposed;

        public PolicyContext(DatabaseOutageRetryPolicy policy, T context)
        {
            _policy = policy;
            Context = context;
        }

        public T Context { get; }

        public bool CanRetry(Exception exception, out RetryContext<T> retryContext)
        {
            // Made at the first failure only, as MassTransit's own policy contexts do: most messages never need it.
            if (_cancellation is null)
            {
                _cancellation = new CancellationTokenSource();
                if (Context.CancellationToken.CanBeCanceled)
                {
                    _registration = Context.CancellationToken.Register(_cancellation.Cancel);
                }
            }

            retryContext = new Retry<T>(_policy, Context, exception, 0, _hold, _cancellation.Token);
            return !_cancellation.IsCancellationRequested && _policy.MayRetry(0, exception);
        }

        public Task RetryFaulted(Exception exception) => Task.CompletedTask;

        public void Cancel() => _cancellation?.Cancel();

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            // The source is left to the collector, as MassTransit's own policy contexts leave theirs: a retry context made
            // from it may still read its token.
            _registration.Dispose();
            if (_hold.Counted)
            {
                _policy.Released();
            }
        }
    }

    private sealed class Retry<T>(DatabaseOutageRetryPolicy policy, T context, Exception exception, int retryCount, Hold hold, CancellationToken cancellationToken)
        : BaseRetryContext<T>(context, exception, retryCount, cancellationToken), RetryContext<T>
        where T : class, PipeContext
    {
        public override Task PreRetry() => policy.WaitAsync(Context, Exception, RetryAttempt, hold, CancellationToken);

        public bool CanRetry(Exception exception, out RetryContext<T> retryContext)
        {
            // The count stops growing where it no longer changes the wait: an outage may outlast int.MaxValue tries.
            retryContext = new Retry<T>(policy, Context, exception, Math.Min(RetryCount + 1, int.MaxValue - 1), hold, CancellationToken);
            return policy.MayRetry(RetryAttempt, exception);
        }
    }
}
