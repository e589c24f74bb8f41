using MassTransit;
using MassTransit.RetryPolicies;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Waits out a database that is away: the message is tried again after each interval in turn. On an endpoint that keeps
/// order, the last interval repeats until the database answers, since the next message of the key may not go before this
/// one: an outage is never the message's fault, and sending it to the error queue would break its key's order.
/// </summary>
internal sealed class DatabaseOutageRetryPolicy(IExceptionFilter filter, TimeSpan[] intervals, bool untilItAnswers) : IRetryPolicy
{
    public bool IsHandled(Exception exception) => filter.Match(exception);

    public RetryPolicyContext<T> CreatePolicyContext<T>(T context)
        where T : class, PipeContext => new PolicyContext<T>(this, context);

    public void Probe(ProbeContext context)
    {
        context.Set(new { Policy = "DatabaseOutage", Limit = untilItAnswers ? (int?)null : intervals.Length, Intervals = intervals });
        filter.Probe(context);
    }

    private TimeSpan DelayBefore(int retryCount) => intervals[Math.Min(retryCount, intervals.Length - 1)];

    private bool MayRetryAfter(int retryAttempt) => untilItAnswers || retryAttempt < intervals.Length;

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

        public bool CanRetry(Exception exception, out RetryContext<T> retryContext)
        {
            // The count stops growing where it no longer changes the delay: an outage may outlast int.MaxValue tries.
            retryContext = new Retry<T>(policy, Context, exception, Math.Min(RetryCount + 1, int.MaxValue - 1), CancellationToken);
            return policy.MayRetryAfter(RetryAttempt) && policy.IsHandled(exception);
        }
    }
}
