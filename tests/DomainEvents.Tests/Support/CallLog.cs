using System.Collections.Concurrent;

namespace DomainEvents.Tests.Support;

/// <summary>What the test handlers saw. Registered as a singleton by each test that builds a service provider.</summary>
public sealed class CallLog
{
    private readonly ConcurrentQueue<HandlerCall> _calls = new();

    public IReadOnlyList<HandlerCall> Calls => [.. _calls];

    public void Record(string handler, object domainEvent) => _calls.Enqueue(new HandlerCall(handler, domainEvent));

    public IReadOnlyList<HandlerCall> By(string handler) => [.. _calls.Where(c => c.Handler == handler)];
}
