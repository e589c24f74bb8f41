using System.Collections.Concurrent;

namespace Ordering.Sample;

// Lets the walkthrough wait until the Billing consumer has handled the message for its order.
public sealed class ConsumerProgress
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<Guid>> _received = new();

    public void Received(Guid orderId, Guid messageId) => For(orderId).TrySetResult(messageId);

    public Task<Guid> WaitAsync(Guid orderId, CancellationToken cancellationToken) => For(orderId).Task.WaitAsync(cancellationToken);

    private TaskCompletionSource<Guid> For(Guid orderId) =>
        _received.GetOrAdd(orderId, _ => new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously));
}
