using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>Drains the outbox of every context registered in the process, one after the other, within one timeout.</summary>
internal sealed class AllOutboxesDrain(IServiceProvider services, IEnumerable<OutboxContext> contexts) : IOutboxDrain, IOutboxDrainBaseline
{
    private readonly Lazy<IReadOnlyList<IOutboxDrain>> _drains = new(() =>
        [.. contexts.Select(c => (IOutboxDrain)services.GetRequiredService(typeof(OutboxDrain<>).MakeGenericType(c.Type)))]);

    /// <summary>Takes every context's baseline; one that cannot be read does not keep the others from theirs.</summary>
    public async Task BeginWatchingAsync(CancellationToken cancellationToken)
    {
        var failures = new List<Exception>();
        foreach (var drain in _drains.Value.OfType<IOutboxDrainBaseline>())
        {
            try
            {
                await drain.BeginWatchingAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failures.Add(ex);
            }
        }

        if (failures.Count > 0)
        {
            throw failures.Count == 1 ? failures[0] : new AggregateException(failures);
        }
    }

    /// <summary>Drains every context at once, each with the whole timeout from now: what each waits for is what was committed before the call.</summary>
    public async Task DrainAsync(TimeSpan timeout, OutboxDrainUntil until = OutboxDrainUntil.Confirmed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        var drains = _drains.Value.Select(d => d.DrainAsync(timeout, until, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(drains).ConfigureAwait(false);
        }
        catch (Exception) when (drains.FirstOrDefault(d => d.IsFaulted)?.Exception?.InnerException is { } first)
        {
            // The first context that did not drain says why (not an AggregateException); the others' outcomes are observed.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }
    }
}
