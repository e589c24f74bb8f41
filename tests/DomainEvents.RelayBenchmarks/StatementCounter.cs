using System.Collections.Concurrent;
using System.Diagnostics;

namespace DomainEvents.RelayBenchmarks;

/// <summary>
/// Counts the SQL commands (each one a round trip to PostgreSQL) Npgsql executes while it is active, by the start of
/// their text, to show what a consumer does per message. Transaction control Npgsql sends on its own (a BEGIN
/// prepended to the first command, COMMIT) is not traced as a command of its own.
/// </summary>
public sealed class StatementCounter : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public StatementCounter()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                var text = activity.GetTagItem("db.query.text") as string ?? activity.DisplayName;
                var key = string.Join(' ', text.Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries).Take(4));
                _counts.AddOrUpdate(key.Length > 60 ? key[..60] : key, 1, (_, n) => n + 1);
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public int Total => _counts.Values.Sum();

    public IReadOnlyDictionary<string, int> Counts => _counts;

    public void Dispose() => _listener.Dispose();
}
