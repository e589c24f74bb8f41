using System.Globalization;
using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Draining;

/// <summary>Polls the outbox of <typeparamref name="TContext"/> until the rows committed before the call are delivered.</summary>
internal sealed class OutboxDrain<TContext>(IServiceScopeFactory scopes, IEnumerable<IOutboxConsumptionWatcher> watchers) : IOutboxDrain<TContext>, IOutboxDrainBaseline
    where TContext : DbContext
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);

    private readonly IOutboxConsumptionWatcher? _watcher = watchers.LastOrDefault();

    // The highest row id when the host started: processed rows above it were published while this host's consumers
    // were running, so Consumed waits for them. Ids, not times: no clock of the database or the host is compared.
    private long _baseline;

    public async Task BeginWatchingAsync(CancellationToken cancellationToken) =>
        Volatile.Write(ref _baseline, await ReadAsync(db => db.Set<OutboxMessage>().MaxAsync(m => (long?)m.Id, cancellationToken)).ConfigureAwait(false) ?? 0);

    public async Task DrainAsync(TimeSpan timeout, OutboxDrainUntil until = OutboxDrainUntil.Confirmed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        if (until == OutboxDrainUntil.Consumed && _watcher is null)
        {
            throw new InvalidOperationException(
                "Waiting for consumers needs a consumption watcher: call services.AddIntegrationEventDrain() (DomainEvents.MassTransit) in the host under test.");
        }

        // Real time, whatever TimeProvider the host under test uses (a fake one would never let the timeout pass).
        var waited = System.Diagnostics.Stopwatch.StartNew();
        var watermark = await ReadAsync(db => db.Set<OutboxMessage>().MaxAsync(m => (long?)m.Id, cancellationToken)).ConfigureAwait(false);
        if (watermark is null)
        {
            return;
        }

        var last = watermark.Value;
        var baseline = Volatile.Read(ref _baseline);
        while (true)
        {
            var rows = await ReadAsync(db =>
            {
                var committed = db.Set<OutboxMessage>().AsNoTracking().Where(m => m.Id <= last);
                var open = until == OutboxDrainUntil.Consumed
                    ? committed.Where(m => m.Status != OutboxMessageStatus.Processed || m.Id > baseline)
                    : committed.Where(m => m.Status != OutboxMessageStatus.Processed);
                return open.OrderBy(m => m.Id).ToListAsync(cancellationToken);
            }).ConfigureAwait(false);

            var waiting = new List<string>();
            var dead = false;
            foreach (var row in rows)
            {
                switch (row.Status)
                {
                    case OutboxMessageStatus.Dead:
                        dead = true;
                        waiting.Add(Describe(row, "dead"));
                        break;
                    case OutboxMessageStatus.Pending:
                        waiting.Add(Describe(row, row.Attempts == 0 ? "pending" : string.Create(CultureInfo.InvariantCulture, $"pending, next attempt at {row.NextAttemptAt:O}")));
                        break;
                    default:
                        if (_watcher!.NotYetHandledBy(row) is { Count: > 0 } consumers)
                        {
                            waiting.Add(Describe(row, "published, not yet handled by " + string.Join("; ", consumers)));
                        }

                        break;
                }
            }

            if (dead)
            {
                throw new OutboxNotDrainedException($"The outbox of {typeof(TContext).Name} cannot drain: a row is dead and will not be sent unless an operator retries it.", waiting);
            }

            if (waiting.Count == 0)
            {
                return;
            }

            if (waited.Elapsed >= timeout)
            {
                throw new OutboxNotDrainedException(
                    string.Create(CultureInfo.InvariantCulture, $"The outbox of {typeof(TContext).Name} did not drain within {timeout.TotalSeconds:0.###} s; {waiting.Count} row(s) committed before the wait are still waiting:"),
                    waiting);
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Describe(OutboxMessage row, string state) =>
        string.Create(CultureInfo.InvariantCulture,
            $"row {row.Id}: {row.MessageType} v{row.Version} {row.MessageId} to '{row.Exchange}' with '{row.RoutingKey}' (key {row.PartitionKey}): {state}, {row.Attempts} attempt(s){(row.LastError is { } error ? ", last error: " + error : "")}");

    private async Task<T> ReadAsync<T>(Func<TContext, Task<T>> read)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await read(scope.ServiceProvider.GetRequiredService<TContext>()).ConfigureAwait(false);
    }
}
