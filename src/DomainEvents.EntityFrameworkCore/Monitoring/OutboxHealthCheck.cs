using System.Globalization;
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
    private OutboxBacklog? _last;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        OutboxBacklog? backlog;
        try
        {
            backlog = await ReadAsync(cancellationToken).ConfigureAwait(false);
            if (backlog is null)
            {
                return HealthCheckResult.Healthy("No outbox in this process.");
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The outbox could not be read.", ex);
        }

        var age = backlog.OldestPendingAge ?? TimeSpan.Zero;
        var data = new Dictionary<string, object>
        {
            ["pending"] = backlog.Pending,
            ["leased"] = backlog.Leased,
            ["dead"] = backlog.Dead,
            ["oldest_pending_age_seconds"] = Math.Round(age.TotalSeconds, 3),
        };
        var summary = string.Create(CultureInfo.InvariantCulture, $"{backlog.Pending} pending (oldest {age.TotalSeconds:0.#} s), {backlog.Leased} being sent, {backlog.Dead} dead");
        if (age > options.UnhealthyLag)
        {
            return HealthCheckResult.Unhealthy(string.Create(CultureInfo.InvariantCulture, $"The oldest pending row has waited longer than {options.UnhealthyLag.TotalSeconds:0} s: {summary}."), data: data);
        }

        if (age > options.DegradedLag)
        {
            return HealthCheckResult.Degraded(string.Create(CultureInfo.InvariantCulture, $"The oldest pending row has waited longer than {options.DegradedLag.TotalSeconds:0} s: {summary}."), data: data);
        }

        if (options.DegradedDeadRows > 0 && backlog.Dead >= options.DegradedDeadRows)
        {
            var exchanges = string.Join(", ", backlog.Exchanges.Where(e => e.Dead > 0).Select(e => $"{e.Exchange}: {e.Dead}"));
            return HealthCheckResult.Degraded($"Dead rows wait for an operator ({exchanges}): {summary}.", data: data);
        }

        return HealthCheckResult.Healthy(summary + ".", data);
    }

    private async Task<OutboxBacklog?> ReadAsync(CancellationToken cancellationToken)
    {
        await _reading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_last is { } last && time.GetUtcNow().UtcDateTime - last.ReadAtUtc < options.BacklogReuse)
            {
                return last;
            }

            await using var scope = scopes.CreateAsyncScope();
            if (scope.ServiceProvider.GetService<IOutboxAdministration>() is not { } administration)
            {
                return null;
            }

            return _last = await administration.GetBacklogAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _reading.Release();
        }
    }
}
