using MassTransit;
using MassTransit.RetryPolicies;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Waits out a database that is away: the message is tried again after each interval in turn. On an endpoint that keeps
/// order (<paramref name="untilItAnswers"/>), the last interval then repeats for as long as the database cannot be reached
/// (<see cref="TransientDatabaseErrors.IsAway"/>), since the next message of the key may not go before this one and an
/// outage is not the message's fault. A transient error that may be the message's own doing (a deadlock) ends the waits
/// after the last interval, as on other endpoints. Each wait past the intervals is logged as a warning.
/// </summary>
/// <remarks>
/// When the bus stops (<paramref name="stopping"/>) the message goes back to its queue: a wait under way ends, and an
/// attempt that fails from then on is not retried; either throws <see cref="OperationCanceledException"/>, which
/// MassTransit answers by returning the message, never by moving it to the error queue. The wait is made here, in
/// <see cref="RetryContext.PreRetry"/>, and not by MassTransit's retry filter: that filter leaves its loop without a word
/// when its token is cancelled between two attempts, and the message, neither consumed nor faulted, would be dead-lettered.
/// </remarks>
internal sealed partial class DatabaseOutageRetryPolicy(IExceptionFilter filter, TimeSpan[] intervals, bool untilItAnswers, CancellationToken stopping, ILogger logger)
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

    /// <summary>The wait before retry <paramref name="retryAttempt"/>, logged once past the intervals.</summary>
    private async Task WaitAsync(PipeContext context, Exception exception, int retryAttempt, CancellationToken cancellationToken)
    {
        var interval = intervals[Math.Min(retryAttempt, intervals.Length) - 1];
        if (retryAttempt > intervals.Length)
        {
            LogHeld(logger, exception, (context as ConsumeContext)?.MessageId, retryAttempt, interval);
        }

        using var either = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellationToken);
        await Task.Delay(interval, either.Token).ConfigureAwait(false);
    }

    [LoggerMessage(1, LogLevel.Warning, "The database is away: message {MessageId} is held, so that its key's order is kept, and tried again (attempt {Attempt}) every {Interval} until the database answers")]
    private static partial void LogHeld(ILogger logger, Exception exception, Guid? messageId, int attempt, TimeSpan interval);

    private sealed class PolicyContext<T>(DatabaseOutageRetryPolicy policy, T context) : BaseRetryPolicyContext<T>(policy, context)
        where T : class, PipeContext
    {
        public override bool CanRetry(Exception exception, out RetryContext<T> retryContext)
        {
            var canRetry = base.CanRetry(exception, out retryContext);
            return canRetry && policy.MayRetry(0, exception);
        }

        protected override RetryContext<T> CreateRetryContext(Exception exception, CancellationToken cancellationToken) =>
            new Retry<T>(policy, Context, exception, 0, cancellationToken);
    }

    private sealed class Retry<T>(DatabaseOutageRetryPolicy policy, T context, Exception exception, int retryCount, CancellationToken cancellationToken)
        : BaseRetryContext<T>(context, exception, retryCount, cancellationToken), RetryContext<T>
        where T : class, PipeContext
    {
        public override Task PreRetry() => policy.WaitAsync(Context, Exception, RetryAttempt, CancellationToken);

        public bool CanRetry(Exception exception, out RetryContext<T> retryContext)
        {
            // The count stops growing where it no longer changes the wait: an outage may outlast int.MaxValue tries.
            retryContext = new Retry<T>(policy, Context, exception, Math.Min(RetryCount + 1, int.MaxValue - 1), CancellationToken);
            return policy.MayRetry(RetryAttempt, exception);
        }
    }
}
