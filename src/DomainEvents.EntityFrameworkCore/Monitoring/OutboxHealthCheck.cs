using System.Globalization;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>
/// The outbox's lag (how long the oldest pending row has waited) and its dead rows, from one reading that is reused for
/// <see cref="DomainEventsHealthCheckOptions.BacklogReuse"/>.
/// </summary>
internal sealed class OutboxHealthCheck(IServiceScopeFactory scopes, DomainEventsHealthCheckOptions options, TimeProvider time) : IHealthCheck
{
    private readonly SemaphoreSlim _reading = new(1, 1);
    private IReadOnlyList<Reading>? _last;
    private DateTime _readAt;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var readings = await ReadAsync(cancellationToken).ConfigureAwait(false);
        if (readings.Count == 0)
        {
            return HealthCheckResult.Healthy("No outbox in this process.");
        }

        // One outbox reads as before; several are named, and the worst of them decides. One that cannot be read is
        // reported as such, beside the others' readings.
        var several = readings.Count > 1;
        var results = readings.Select(r =>
        {
            var prefix = several ? r.Context + ": " : "";
            return r.Backlog is { } backlog
                ? Check(backlog, prefix, several ? r.Context + "." : "")
                : new HealthCheckResult(context.Registration.FailureStatus, prefix + "The outbox could not be read.", r.Error);
        }).ToList();
        var data = results.SelectMany(r => r.Data).ToDictionary(p => p.Key, p => p.Value);
        return new HealthCheckResult(
            results.Min(r => r.Status),
            string.Join(" ", results.Select(r => r.Description)),
            results.Select(r => r.Exception).FirstOrDefault(e => e is not null),
            data);
    }

    private HealthCheckResult Check(OutboxBacklog backlog, string prefix, string dataPrefix)
    {
        var age = backlog.OldestPendingAge ?? TimeSpan.Zero;
        var data = new Dictionary<string, object>
        {
            [dataPrefix + "pending"] = backlog.Pending,
            [dataPrefix + "leased"] = backlog.Leased,
            [dataPrefix + "dead"] = backlog.Dead,
            [dataPrefix + "oldest_pending_age_seconds"] = Math.Round(age.TotalSeconds, 3),
        };
        var summary = string.Create(CultureInfo.InvariantCulture, $"{backlog.Pending} pending (oldest {age.TotalSeconds:0.#} s), {backlog.Leased} being sent, {backlog.Dead} dead");
        if (age > options.UnhealthyLag)
        {
            return HealthCheckResult.Unhealthy(string.Create(CultureInfo.InvariantCulture, $"{prefix}The oldest pending row has waited longer than {options.UnhealthyLag.TotalSeconds:0} s: {summary}."), data: data);
        }

        if (age > options.DegradedLag)
        {
            return HealthCheckResult.Degraded(string.Create(CultureInfo.InvariantCulture, $"{prefix}The oldest pending row has waited longer than {options.DegradedLag.TotalSeconds:0} s: {summary}."), data: data);
        }

        if (options.DegradedDeadRows > 0 && backlog.Dead >= options.DegradedDeadRows)
        {
            var exchanges = string.Join(", ", backlog.Exchanges.Where(e => e.Dead > 0).Select(e => $"{e.Exchange}: {e.Dead}"));
            return HealthCheckResult.Degraded($"{prefix}Dead rows wait for an operator ({exchanges}): {summary}.", data: data);
        }

        return HealthCheckResult.Healthy(prefix + summary + ".", data);
    }

    private async Task<IReadOnlyList<Reading>> ReadAsync(CancellationToken cancellationToken)
    {
        await _reading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_last is { } last && time.GetUtcNow().UtcDateTime - _readAt < options.BacklogReuse)
            {
                return last;
            }

            await using var scope = scopes.CreateAsyncScope();
            var contexts = scope.ServiceProvider.GetServices<OutboxContext>().Select(c => c.Type).ToList();
            var readings = new List<Reading>();
            foreach (var type in contexts)
            {
                // Class names, unless two contexts share one.
                var name = contexts.Count(t => t.Name == type.Name) > 1 ? type.FullName ?? type.Name : type.Name;
                try
                {
                    var administration = (IOutboxAdministration)scope.ServiceProvider.GetRequiredService(typeof(IOutboxAdministration<>).MakeGenericType(type));
                    readings.Add(new Reading(name, await administration.GetBacklogAsync(cancellationToken).ConfigureAwait(false), null));
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    readings.Add(new Reading(name, null, ex));
                }
            }

            // A failed reading is not reused: the next probe reads again.
            if (readings.All(r => r.Error is null))
            {
                _last = readings;
                _readAt = time.GetUtcNow().UtcDateTime;
            }

            return readings;
        }
        finally
        {
            _reading.Release();
        }
    }

    private sealed record Reading(string Context, OutboxBacklog? Backlog, Exception? Error);
}
