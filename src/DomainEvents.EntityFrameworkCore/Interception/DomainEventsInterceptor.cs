using System.Diagnostics;
using System.Data.Common;
using DomainEvents.Dispatching;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.Messaging;
using DomainEvents.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Interception;

/// <summary>
/// Dispatches domain events from tracked aggregates to handlers inside SaveChangesAsync, before the
/// database transaction commits, and adds an outbox row for each integration event to the same save.
/// Events leave their aggregates only when the save (and any explicit transaction) has succeeded.
/// </summary>
internal sealed partial class DomainEventsInterceptor : ISaveChangesInterceptor, IDbTransactionInterceptor
{
    private readonly ILogger _logger;
    private readonly IAfterCommitFailureObserver[] _observers;
    private readonly IDomainEventDispatcher _dispatcher;
    private readonly OutboxMessageFactory _factory;
    private readonly OutboxSignal _signal;
    private readonly IOutboxCommitNotifier[] _notifiers;
    private readonly int _maxCascadeDepth;
    private readonly Dictionary<DbContext, SaveState> _states = new(ReferenceEqualityComparer.Instance);

    public DomainEventsInterceptor(
        IDomainEventDispatcher dispatcher,
        OutboxMessageFactory factory,
        OutboxSignal signal,
        DomainEventsOptions options,
        IEnumerable<IOutboxCommitNotifier> notifiers,
        IEnumerable<IAfterCommitFailureObserver> observers,
        ILogger<DomainEventsInterceptor>? logger = null)
    {
        _observers = [.. observers];
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _notifiers = [.. notifiers];
        _dispatcher = dispatcher;
        _factory = factory;
        _signal = signal;
        _maxCascadeDepth = options.MaxCascadeDepth;
    }

    public InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } context)
        {
            var waiting = Collect(context, StateOf(context)).Count;
            if (waiting > 0)
            {
                throw new SynchronousSaveNotSupportedException(waiting);
            }
        }

        return result;
    }

    public async ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is not { } context)
        {
            return result;
        }

        var state = StateOf(context);
        state.Saving = true;
        var counter = _dispatcher as IHandlerRunCounter;
        for (var depth = 0; ; depth++)
        {
            var pending = Collect(context, state);
            if (pending.Count == 0)
            {
                break;
            }

            if (depth == _maxCascadeDepth)
            {
                throw new DomainEventCascadeDepthExceededException(_maxCascadeDepth, [.. pending.Select(p => p.Event.GetType())]);
            }

            var handlerRunsBefore = counter?.DispatchesWithHandlers;
            foreach (var (aggregate, domainEvent) in pending)
            {
                OutboxMessage? row = null;
                if (domainEvent is IIntegrationEvent integrationEvent)
                {
                    // Build (and so validate) the row before any handler runs: bad input fails the save early.
                    EnsureOutboxMapped(context);

                    // The row stores this span's trace context: the relay's publish span, and the consumer's, follow from it.
                    using (var activity = DomainEventsTracing.Source.HasListeners() ? DomainEventsTracing.Source.StartActivity(ActivityKind.Internal, name: "outbox write " + integrationEvent.GetType().Name) : null)
                    {
                        row = _factory.Create(aggregate, integrationEvent, state.CorrelationId);
                        activity?.SetTag("messaging.operation.type", "create");
                        activity?.SetTag("messaging.destination.name", row.Exchange);
                        activity?.SetTag("messaging.message.id", row.MessageId.ToString());
                        activity?.SetTag("domainevents.message.type", row.MessageType);
                        activity?.SetTag("domainevents.partition_key", row.PartitionKey);
                    }

                    state.CorrelationId ??= row.MessageId;
                }

                await _dispatcher.DispatchAsync(domainEvent, cancellationToken).ConfigureAwait(false);
                if (row is not null)
                {
                    context.Add(row);
                }

                state.Dispatched[domainEvent] = row;
            }

            // With no handler run in this round, nothing but our own outbox rows changed since Collect: there are no
            // new events to find, so the next round's pass over the change tracker (and its DetectChanges) is skipped.
            if (counter is not null && counter.DispatchesWithHandlers == handlerRunsBefore)
            {
                break;
            }
        }

        return result;
    }

    public int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        if (eventData.Context is { } context)
        {
            EndSave(context);
            Complete(context);
        }

        return result;
    }

    public async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context)
        {
            EndSave(context);

            // The data is committed: nothing from here on may make the save look failed to the caller.
            var notified = _states.TryGetValue(context, out var state) && state.TakeNotified();
            var completed = Complete(context);
            if (completed is { } committed)
            {
                if (committed.Rows.Count > 0 && !notified)
                {
                    await NotifyAfterCommitAsync(context, cancellationToken).ConfigureAwait(false);
                }

                await RunAfterCommitAsync(committed.Events, cancellationToken).ConfigureAwait(false);
            }
        }

        return result;
    }

    public void SaveChangesFailed(DbContextErrorEventData eventData)
    {
        // Events stay on their aggregates and dispatched ones stay marked (their handlers' changes and outbox
        // rows are still tracked), so a retried save neither loses nor re-dispatches them.
        if (eventData.Context is { } context)
        {
            EndSave(context);
        }
    }

    public Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        SaveChangesFailed(eventData);
        return Task.CompletedTask;
    }

    private void EndSave(DbContext context)
    {
        if (_states.TryGetValue(context, out var state))
        {
            state.Saving = false;
        }
    }

    /// <summary>
    /// Before a transaction that wrote outbox rows commits (the save's own or the caller's), the notifiers run inside it:
    /// PostgreSQL delivers a NOTIFY only when the transaction commits, and a failure here fails the commit honestly.
    /// </summary>
    public async ValueTask<InterceptionResult> TransactionCommittingAsync(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        if (_notifiers.Length > 0 && eventData.Context is { } context && _states.TryGetValue(context, out var state) && state.HasOutboxToCommit)
        {
            await NotifyOtherProcessesAsync(context, cancellationToken).ConfigureAwait(false);
            state.MarkNotified();
        }

        return result;
    }

    public async Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context && _states.TryGetValue(context, out var state))
        {
            // A save's own transaction is finished in SavedChangesAsync, which also reads the notified mark.
            if (state.Saving)
            {
                return;
            }

            var notified = state.TakeNotified();
            var (rows, afterCommit) = state.TakeCommitted();
            if (rows.Count > 0)
            {
                _signal.Committed(context.GetType(), rows);
                if (!notified)
                {
                    await NotifyAfterCommitAsync(context, cancellationToken).ConfigureAwait(false);
                }
            }

            if (afterCommit.Count > 0)
            {
                await RunAfterCommitAsync(afterCommit, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData)
    {
        if (eventData.Context is { } context && _states.TryGetValue(context, out var state) && !state.Saving)
        {
            state.TakeNotified();
            var (rows, _) = state.TakeCommitted();
            _signal.Committed(context.GetType(), rows);
        }
    }

    /// <summary>A commit that failed (or a transaction that ended without a commit) takes what it held with it.</summary>
    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Forget(eventData.Context);

    public Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return Task.CompletedTask;
    }

    /// <summary>A new transaction starts from nothing: what an abandoned one held (its events, its notified mark) is dropped.</summary>
    public DbTransaction TransactionStarted(DbConnection connection, TransactionEndEventData eventData, DbTransaction result)
    {
        Forget(eventData.Context);
        return result;
    }

    public ValueTask<DbTransaction> TransactionStartedAsync(DbConnection connection, TransactionEndEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Forget(eventData.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return Task.CompletedTask;
    }

    private void Forget(DbContext? context)
    {
        if (context is not null && _states.TryGetValue(context, out var state))
        {
            state.TakeCommitted();
            state.TakeNotified();
        }
    }

    private SaveState StateOf(DbContext context)
    {
        if (!_states.TryGetValue(context, out var state))
        {
            state = new SaveState();
            _states[context] = state;
        }

        return state;
    }

    private static List<(EntityEntry Aggregate, IDomainEvent Event)> Collect(DbContext context, SaveState state)
    {
        var pending = new List<(EntityEntry, IDomainEvent)>();
        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.Entity is not IHasDomainEvents aggregate || entry.State == EntityState.Detached)
            {
                continue;
            }

            foreach (var domainEvent in aggregate.DomainEvents)
            {
                if (!state.Dispatched.ContainsKey(domainEvent))
                {
                    pending.Add((entry, domainEvent));
                }
            }
        }

        return pending;
    }

    /// <summary>Removes dispatched events from their aggregates after a successful save.</summary>
    /// <returns>Events for after-commit handlers and the outbox rows written, when there is no explicit transaction; otherwise they wait for the commit.</returns>
    private (List<IDomainEvent> Events, List<OutboxMessage> Rows)? Complete(DbContext context)
    {
        if (!_states.TryGetValue(context, out var state) || state.Dispatched.Count == 0)
        {
            return null;
        }

        // Only events still on tracked aggregates were saved; marks left by an abandoned attempt (a cleared
        // change tracker, a retried execution strategy) are dropped here. The save has just run DetectChanges and
        // accepted every change, so this pass runs none: there is nothing left for it to find.
        var events = new List<IDomainEvent>();
        var rows = new List<OutboxMessage>();
        var tracker = context.ChangeTracker;
        var autoDetectChanges = tracker.AutoDetectChangesEnabled;
        tracker.AutoDetectChangesEnabled = false;
        try
        {
            foreach (var entry in tracker.Entries())
            {
                if (entry.Entity is IHasDomainEvents aggregate && aggregate.DomainEvents.Count > 0)
                {
                    var saved = aggregate.DomainEvents.Where(state.Dispatched.ContainsKey).ToList();
                    foreach (var domainEvent in saved)
                    {
                        if (state.Dispatched[domainEvent] is { } row)
                        {
                            rows.Add(row);
                        }
                    }

                    events.AddRange(saved);
                    aggregate.RemoveDomainEvents(saved);
                }
            }
        }
        finally
        {
            tracker.AutoDetectChangesEnabled = autoDetectChanges;
        }

        state.Dispatched.Clear();
        state.CorrelationId = null;

        if (context.Database.CurrentTransaction is not null)
        {
            state.AwaitCommit(rows, events);
            return null;
        }

        // Committed: the rows go to a relay of this process if one takes them. In an ambient TransactionScope they are
        // committed only when the scope is; one rolled back takes them with it. (A connection that does not enlist in the
        // scope has committed already: its rows wait for the relay's next claim over the table.)
        if (rows.Count > 0)
        {
            var contextType = context.GetType();
            if (System.Transactions.Transaction.Current is { } ambient)
            {
                ambient.TransactionCompleted += (_, e) =>
                {
                    if (e.Transaction?.TransactionInformation.Status == System.Transactions.TransactionStatus.Committed)
                    {
                        _signal.Committed(contextType, rows);
                    }
                };
            }
            else
            {
                _signal.Committed(contextType, rows);
            }
        }

        return (events, rows);
    }

    private async Task NotifyOtherProcessesAsync(DbContext context, CancellationToken cancellationToken)
    {
        foreach (var notifier in _notifiers)
        {
            await notifier.NotifyAsync(context, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A NOTIFY after the commit, for a save that ran without a transaction of its own: a failure only delays relays to their next poll.</summary>
    private async Task NotifyAfterCommitAsync(DbContext context, CancellationToken cancellationToken)
    {
        try
        {
            await NotifyOtherProcessesAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogNotifyFailed(_logger, ex);
        }
    }

    /// <summary>
    /// Runs the after-commit handlers. The data is committed, so a handler that throws or is cancelled never turns the
    /// save into an exception: the failure is logged, counted and handed to each <see cref="IAfterCommitFailureObserver"/>,
    /// and the next event's handlers still run.
    /// </summary>
    private async Task RunAfterCommitAsync(List<IDomainEvent> events, CancellationToken cancellationToken)
    {
        foreach (var domainEvent in events)
        {
            try
            {
                await _dispatcher.DispatchAfterCommitAsync(domainEvent, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogAfterCommitFailed(_logger, ex, domainEvent.GetType().Name);
                foreach (var observer in _observers)
                {
                    try
                    {
                        observer.OnAfterCommitFailed(domainEvent, ex);
                    }
                    catch (Exception observerError)
                    {
                        LogObserverFailed(_logger, observerError, observer.GetType().Name);
                    }
                }
            }
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "NOTIFY after a committed save failed; relays in other processes find the rows at their next poll")]
    private static partial void LogNotifyFailed(ILogger logger, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "An after-commit handler of {EventType} failed; the save itself is committed")]
    private static partial void LogAfterCommitFailed(ILogger logger, Exception exception, string eventType);

    [LoggerMessage(3, LogLevel.Error, "The after-commit failure observer {Observer} threw")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string observer);

    private static void EnsureOutboxMapped(DbContext context)
    {
        if (context.Model.FindEntityType(typeof(OutboxMessage)) is null)
        {
            throw new OutboxNotMappedException(context.GetType());
        }
    }

    private sealed class SaveState
    {
        private List<OutboxMessage> _committedRows = [];
        private List<IDomainEvent> _committedEvents = [];

        public Dictionary<IDomainEvent, OutboxMessage?> Dispatched { get; } = new(ReferenceEqualityComparer.Instance);

        public Guid? CorrelationId { get; set; }

        /// <summary>Whether a SaveChanges is under way: a commit inside it is the save's own transaction.</summary>
        public bool Saving { get; set; }

        private bool _notified;

        /// <summary>Whether the transaction about to commit holds outbox rows: this save's, or earlier saves' in the caller's transaction.</summary>
        public bool HasOutboxToCommit => _committedRows.Count > 0 || Dispatched.Values.Any(static row => row is not null);

        public void MarkNotified() => _notified = true;

        public bool TakeNotified()
        {
            var notified = _notified;
            _notified = false;
            return notified;
        }

        public void AwaitCommit(List<OutboxMessage> rows, List<IDomainEvent> events)
        {
            _committedRows.AddRange(rows);
            _committedEvents.AddRange(events);
        }

        public (List<OutboxMessage> Rows, List<IDomainEvent> Events) TakeCommitted()
        {
            var taken = (_committedRows, _committedEvents);
            _committedRows = [];
            _committedEvents = [];
            return taken;
        }
    }
}
