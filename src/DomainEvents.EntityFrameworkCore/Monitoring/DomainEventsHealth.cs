using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DomainEvents.EntityFrameworkCore.Monitoring;

/// <summary>
/// The long-running parts of DomainEvents in this process (relays, the LISTEN connection, inbox clean-up) report their
/// state here; the health checks read it. One per service provider.
/// </summary>
internal sealed class DomainEventsHealth(TimeProvider time) : IDomainEventsHealthReporter
{
    /// <summary>The relays of this process.</summary>
    public const string Relay = "relay";

    /// <summary>The PostgreSQL LISTEN connections of this process.</summary>
    public const string Notifications = IDomainEventsHealthReporter.Notifications;

    /// <summary>The inbox clean-up services of this process.</summary>
    public const string InboxCleanup = IDomainEventsHealthReporter.InboxCleanup;

    /// <summary>The inbox consumers of this process that keep order.</summary>
    public const string InboxConsumers = IDomainEventsHealthReporter.InboxConsumers;

    private readonly ConcurrentDictionary<Component, bool> _components = new();

    public TimeProvider Time => time;

    /// <summary>Adds a part that reports its state; it starts as not running.</summary>
    /// <param name="kind">Which health check reads it.</param>
    /// <param name="name">Its name in that check's description.</param>
    /// <param name="stalledAfter">If set, the part is unhealthy when it has not reported success for this long.</param>
    public Component Register(string kind, string name, TimeSpan? stalledAfter = null)
    {
        var component = new Component(this, kind, name, stalledAfter);
        _components[component] = true;
        return component;
    }

    IReportedHealth IDomainEventsHealthReporter.Register(string kind, string name, TimeSpan? stalledAfter) => Register(kind, name, stalledAfter);

    public IEnumerable<Component> Of(string kind) => _components.Keys.Where(c => c.Kind == kind);

    internal void Remove(Component component) => _components.TryRemove(component, out _);

    internal sealed class Component(DomainEventsHealth owner, string kind, string name, TimeSpan? stalledAfter) : IReportedHealth
    {
        private State _state = new(HealthStatus.Unhealthy, "not running", null, owner.Time.GetUtcNow().UtcDateTime);
        private long _lastSuccessTicks;

        public string Kind { get; } = kind;

        public string Name { get; } = name;

        /// <summary>Working as it should.</summary>
        public void Healthy(string description)
        {
            var now = owner.Time.GetUtcNow().UtcDateTime;
            Interlocked.Exchange(ref _lastSuccessTicks, now.Ticks);
            Set(HealthStatus.Healthy, description, null, now);
        }

        /// <summary>Not working as it should; the first report of a status keeps its time as "since".</summary>
        public void Problem(HealthStatus status, string description, Exception? error = null) => Set(status, description, error, owner.Time.GetUtcNow().UtcDateTime);

        public (HealthStatus Status, string Description, Exception? Error) Read()
        {
            var state = Volatile.Read(ref _state);
            var now = owner.Time.GetUtcNow().UtcDateTime;
            if (state.Status == HealthStatus.Healthy && stalledAfter is { } limit && Interlocked.Read(ref _lastSuccessTicks) is var ticks && now - new DateTime(ticks, DateTimeKind.Utc) > limit)
            {
                var quiet = now - new DateTime(ticks, DateTimeKind.Utc);
                return (HealthStatus.Unhealthy, string.Create(CultureInfo.InvariantCulture, $"{Name}: no progress for {quiet.TotalSeconds:0} s (limit {limit.TotalSeconds:0} s)"), null);
            }

            var since = state.Status == HealthStatus.Healthy ? "" : string.Create(CultureInfo.InvariantCulture, $" (since {state.Since:O})");
            return (state.Status, $"{Name}: {state.Description}{since}", state.Error);
        }

        public void Dispose() => owner.Remove(this);

        private void Set(HealthStatus status, string description, Exception? error, DateTime now)
        {
            // Two batches of a relay may report at once: keep "since" of the state actually replaced.
            while (true)
            {
                var previous = Volatile.Read(ref _state);
                var next = new State(status, description, error, previous.Status == status ? previous.Since : now);
                if (ReferenceEquals(Interlocked.CompareExchange(ref _state, next, previous), previous))
                {
                    return;
                }
            }
        }

        private sealed record State(HealthStatus Status, string Description, Exception? Error, DateTime Since);
    }
}
