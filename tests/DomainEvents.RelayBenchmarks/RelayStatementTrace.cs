using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Watches the relay's SQL through Npgsql's tracing (ActivitySource "Npgsql"): when each claim and each "mark
/// processed" ran and how long it took, and how many rows each marked. The relay's statements are plain ADO.NET
/// commands on the DbContext's connection, so EF Core interceptors do not see them; Npgsql's activities do.
/// Rows marked are counted from the relay's <c>domainevents.relay.processed</c> metric. Active only while the
/// relay's throughput is measured.
/// </summary>
public sealed class RelayStatementTrace : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly MeterListener _meters = new();
    private readonly ConcurrentQueue<Statement> _statements = new();
    private long _marked;

    public RelayStatementTrace()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = Stopped,
        };
        ActivitySource.AddActivityListener(_listener);
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "DomainEvents.Relay" && instrument.Name == "domainevents.relay.processed")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((_, rows, _, _) =>
        {
            if (Interlocked.Add(ref _marked, rows) >= Target && ReachedAt is null)
            {
                ReachedAt = Stopwatch.GetTimestamp();
            }
        });
        _meters.Start();
    }

    public enum Kind
    {
        Claim,
        MarkProcessed,
        Release,

        /// <summary>A poll's question whether a claim over the table could find anything.</summary>
        MayClaim,
    }

    /// <summary>A statement the relay ran; <paramref name="OverTable"/>: a claim that searches the table (not a lease by id).</summary>
    public sealed record Statement(Kind Kind, long StartTimestamp, TimeSpan Duration, int Rows, bool OverTable = false);

    /// <summary>Rows marked processed so far.</summary>
    public long Marked => Interlocked.Read(ref _marked);

    /// <summary>Stopwatch timestamp when the rows marked reached <paramref name="count"/>.</summary>
    public long? ReachedAt { get; private set; }

    public long Target { get; set; } = long.MaxValue;

    public IReadOnlyList<Statement> Take()
    {
        var list = new List<Statement>();
        while (_statements.TryDequeue(out var s))
        {
            list.Add(s);
        }

        return list.OrderBy(s => s.StartTimestamp).ToList();
    }

    public void Reset(long target)
    {
        _statements.Clear();
        Interlocked.Exchange(ref _marked, 0);
        ReachedAt = null;
        Target = target;
    }

    private void Stopped(Activity activity)
    {
        if (activity.GetTagItem("db.query.text") is not string text)
        {
            return;
        }

        var end = Stopwatch.GetTimestamp();
        var start = end - (long)(activity.Duration.TotalSeconds * Stopwatch.Frequency);
        if (text.Contains("SET lease_owner = @owner", StringComparison.Ordinal))
        {
            _statements.Enqueue(new Statement(Kind.Claim, start, activity.Duration, -1, text.Contains("WITH RECURSIVE", StringComparison.Ordinal)));
        }
        else if (text.Contains("SET status = 1, processed_at", StringComparison.Ordinal))
        {
            _statements.Enqueue(new Statement(Kind.MarkProcessed, start, activity.Duration, -1));
        }
        else if (text.Contains("SET lease_owner = NULL, lease_expires_at = NULL WHERE", StringComparison.Ordinal))
        {
            _statements.Enqueue(new Statement(Kind.Release, start, activity.Duration, -1));
        }
        else if (text.Contains("bool_or(w.due)", StringComparison.Ordinal))
        {
            _statements.Enqueue(new Statement(Kind.MayClaim, start, activity.Duration, -1));
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _meters.Dispose();
    }
}
