namespace DomainEvents.Benchmarks.Dispatch;

/// <summary>What every benchmark handler does: counts its call, so the set-up can prove how many handlers ran.</summary>
public static class HandlerCalls
{
    private static long _count;

    public static long Count => _count;

    public static Task Record()
    {
        _count++;
        return Task.CompletedTask;
    }
}
