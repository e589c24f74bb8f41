using MassTransit;
using MassTransit.RetryPolicies;
using Microsoft.Extensions.Logging;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Waits out a database that is away: the message is tried again after each interval in turn. On an endpoint that keeps
/// order (<paramref name="untilItAnswers"/>), the last interval then repeats for as long as the database cannot be reached
/// (<see cref="TransientDatabaseErrors.IsAway"/>), since the next message of the key may not go before this one and an
/// outage is not the message's fault. A transient error that may be the message's own doing (a timeout, a deadlock) ends
/// the waits after the last interval, as on other endpoints. Each wait past the intervals is logged as a warning.
/// </summary>
internal sealed partial class DatabaseOutageRetryPolicy(IExceptionFilter filter, TimeSpan[] intervals, bool untilItAnswers, ILogger logger) : IRetryPolicy
{
    public bool IsHandled(Exception exception) => filter.Match(exception);

    public RetryPolicyContext<T> CreatePolicyContext<T>(T context)
        where T : class, PipeContext => new PolicyContext<T>(this, context);

    public void Probe(ProbeContext context)
    {
        context.Set(new { Policy = "DatabaseOutage", Limit = intervals.Length, UntilTheDatabaseAnswers = untilItAnswers, Intervals = intervals });
        filter.Probe(context);
    }

    private TimeSpan DelayBefore(int retryCount) => intervals[Math.Min(retryCount, intervals.Length - 1)];

    private bool MayRetry(int retryAttempt, Exception exception) =>
        IsHandled(exception) && (retryAttempt < intervals.Length || (untilItAnswers && TransientDatabaseErrors.IsAway(exception)));

    private void Holding(PipeContext context, Exception exception, int retryAttempt)
    {
        if (retryAttempt > intervals.Length)
        {
            LogHeld(logger, exception, (context as ConsumeContext)?.MessageId, retryAttempt, intervals[^1]);
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "The database is away: message {MessageId} is held, so that its key's order is kept, and tried again (attempt {Attempt}) every {Interval} until the database answers")]
    private static partial void LogHeld(ILogger logger, Exception exception, Guid? messageId, int attempt, TimeSpan interval);

    private sealed class PolicyContext<T>(DatabaseOutageRetryPolicy policy, T context) : BaseRetryPolicyContext<T>(policy, context)
        where T : class, PipeContext
    {
        protected override RetryContext<T> CreateRetryContext(Exception exception, CancellationToken cancellationToken) =>
            new Retry<T>(policy, Context, exception, 0, cancellationToken);
    }

    private sealed class Retry<T>(DatabaseOutageRetryPolicy policy, T context, Exception exception, int retryCount, CancellationToken cancellationToken)
        : BaseRetryContext<T>(context, exception, retryCount, cancellationToken), RetryContext<T>
        where T : class, PipeContext
    {
        public override TimeSpan? Delay => policy.DelayBefore(RetryCount);

        public override Task PreRetry()
        {
            policy.Holding(Context, Exception, RetryAttempt);
            return Task.CompletedTask;
        }

        public bool CanRetry(Exception exception, out RetryContext<T> retryContext)
        {
            // The count stops growing where it no longer changes the delay: an outage may outlast int.MaxValue tries.
            retryContext = new Retry<T>(policy, Context, exception, Math.Min(RetryCount + 1, int.MaxValue - 1), CancellationToken);
            return policy.MayRetry(RetryAttempt, exception);
        }
    }
}
