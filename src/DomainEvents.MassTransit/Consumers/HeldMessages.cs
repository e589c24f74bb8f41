using DomainEvents.EntityFrameworkCore.Monitoring;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The messages one ordered inbox consumer holds until its database answers, reported to the <c>domainevents-inbox</c>
/// health check: degraded from the first wait past the retry intervals until the last held message is done with (applied,
/// moved to the error queue, or returned to its queue when the bus stops).
/// </summary>
internal sealed class HeldMessages
{
    private const string NoneHeld = "no message held";

    private readonly Lock _gate = new();
    private readonly IReportedHealth? _health;
    private int _held;
    private Exception? _error;

    public HeldMessages(IReportedHealth? health)
    {
        _health = health;
        Report();
    }

    /// <summary>A message starts waiting past the intervals for the database, which refused it with <paramref name="error"/>.</summary>
    public void Holding(Exception error)
    {
        lock (_gate)
        {
            _held++;
            _error = error;
            Report();
        }
    }

    /// <summary>A held message waits again; the database refused it with <paramref name="error"/> this time.</summary>
    public void StillHeld(Exception error)
    {
        lock (_gate)
        {
            _error = error;
            Report();
        }
    }

    /// <summary>A held message is done with, one way or the other.</summary>
    public void Released()
    {
        lock (_gate)
        {
            _held = Math.Max(0, _held - 1);
            Report();
        }
    }

    private void Report()
    {
        if (_held == 0)
        {
            _error = null;
            _health?.Healthy(NoneHeld);
            return;
        }

        _health?.Problem(HealthStatus.Degraded,
            $"{_held} message(s) held until the database answers; the next messages of their keys wait behind them: {_error?.Message}", _error);
    }
}
