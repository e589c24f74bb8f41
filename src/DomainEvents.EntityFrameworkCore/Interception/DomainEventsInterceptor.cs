using System.Diagnostics;
using System.Data.Common;
using DomainEvents.Dispatching;
using DomainEvents.EntityFrameworkCore.ChangeEvents;
using DomainEvents.EntityFrameworkCore.Keys;
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
    private readonly IOutboxHeaderEnricher[] _enrichers;
    private readonly ChangeEventWriter _changes;
    private readonly EventSourceRunner _sources;
    private readonly TimeProvider _time;
    private readonly Dictionary<DbContext, SaveState> _states = new(ReferenceEqualityComparer.Instance);

    public DomainEventsInterceptor(
        IDomainEventDispatcher dispatcher,
        OutboxMessageFactory factory,
        ChangeEventWriter changes,
        EventSourceRunner sources,
        TimeProvider time,
        OutboxSignal signal,
        DomainEventsOptions options,
        IEnumerable<IOutboxCommitNotifier> notifiers,
        IEnumerable<IAfterCommitFailureObserver> observers,
        IEnumerable<IOutboxHeaderEnricher> enrichers,
        ILogger<DomainEventsInterceptor>? logger = null)
    {
        _enrichers = [.. enrichers];
        _changes = changes;
        _sources = sources;
        _time = time;
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
            var state = StateOf(context);
            ForgetDroppedAttempt(context, state);
            state.Sourced = _sources.Run(context, state.Sourced);

            // A keyed event whose key is handled would be skipped: it does not make a synchronous save impossible.
            var waiting = Collect(context, state).Count(p => p.Event is not IKeyedEvent keyed || !KeyedEventLedger.IsHandled(context, keyed));
            if (waiting > 0)
            {
                throw new SynchronousSaveNotSupportedException(waiting);
            }

            state.Saving = true;
            CaptureChanges(context, state);
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

        // Keys taken by an earlier attempt of this save are in the change tracker as ledger rows, unless it was cleared.
        state.ClearKeys();
        ForgetDroppedAttempt(context, state);
        var counter = _dispatcher as IHandlerRunCounter;
        for (var depth = 0; ; depth++)
        {
            // Sources look again each round: a handler may have added or changed an entity they watch.
            state.Sourced = _sources.Run(context, state.Sourced);
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
            var handledKeys = await KeyedEventLedger.ReadHandledAsync(context, pending, cancellationToken).ConfigureAwait(false);
            foreach (var (aggregate, domainEvent) in pending)
            {
                // A keyed event whose key this save or an earlier one took is marked dispatched without being dispatched.
                if (domainEvent is IKeyedEvent keyed && !await KeyedEventLedger.TakeAsync(context, keyed, state.Keys, handledKeys, _time, cancellationToken).ConfigureAwait(false))
                {
                    state.Dispatched[domainEvent] = null;
                    state.Skipped.Add(domainEvent);
                    continue;
                }

                OutboxMessage? row = null;
                if (domainEvent is IIntegrationEvent integrationEvent)
                {
                    // Build (and so validate) the row before any handler runs: bad input fails the save early.
                    OutboxNotMappedException.ThrowIfNotMapped(context);

                    // The row stores this span's trace context: the relay's publish span, and the consumer's, follow from it.
                    using (var activity = DomainEventsTracing.Source.HasListeners() ? DomainEventsTracing.Source.StartActivity(ActivityKind.Internal, name: "outbox write " + integrationEvent.GetType().Name) : null)
                    {
                        row = _factory.Create(aggregate, integrationEvent, state.CorrelationId, _enrichers);
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

        EventSourceRunner.SweepOf(context)?.Count(state.Sourced ?? [], state.Skipped);
        CaptureChanges(context, state);
        return result;
    }

    public int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        if (eventData.Context is { } context)
        {
            EndSave(context);
            if (_states.TryGetValue(context, out var state) && SavedChangeEvents(context, state) is { } ambient)
            {
                var rows = _changes.Rows(ambient, state.CorrelationId, _enrichers);
                try
                {
                    _changes.Insert(context, rows);
                }
                catch (Exception ex) when (context.Database.SystemTransaction() is { } transaction)
                {
                    RollBack(transaction, ex);
                    throw;
                }

                WrittenInAmbientTransaction(context, rows.Count);
            }

            Complete(context);
        }

        return result;
    }

    public async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context)
        {
            EndSave(context);
            if (_states.TryGetValue(context, out var saved) && SavedChangeEvents(context, saved) is { } ambient)
            {
                var rows = _changes.Rows(ambient, saved.CorrelationId, _enrichers);
                try
                {
                    await _changes.InsertAsync(context, rows, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (context.Database.SystemTransaction() is { } transaction)
                {
                    RollBack(transaction, ex);
                    throw;
                }

                WrittenInAmbientTransaction(context, rows.Count);
            }

            // The data is committed, or in a System.Transactions transaction (a TransactionScope) waits for it: nothing
            // from here on may make a committed save look failed to the caller.
            var notified = _states.TryGetValue(context, out var state) && state.TakeNotified();
            var completed = Complete(context);
            if (completed is { } committed)
            {
                var transaction = context.Database.SystemTransaction();
                if (committed.Rows.Count > 0 && !notified)
                {
                    if (transaction is not null)
                    {
                        await NotifyInSystemTransactionAsync(context, transaction, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await NotifyAfterCommitAsync(context, cancellationToken).ConfigureAwait(false);
                    }
                }

                var dispatched = await RunAfterCommitAsync(committed.Events, transaction, cancellationToken).ConfigureAwait(false);
                if (transaction is not null && dispatched)
                {
                    await CheckStillCommittableAsync(context, transaction).ConfigureAwait(false);
                }
            }
        }

        return result;
    }

    public void SaveChangesFailed(DbContextErrorEventData eventData) => Failed(eventData.Context);

    public Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Failed(eventData.Context);
        return Task.CompletedTask;
    }

    /// <summary>A cancelled save is a failed one: EF Core reports it here, not to <see cref="SaveChangesFailed"/>.</summary>
    public void SaveChangesCanceled(DbContextEventData eventData) => Failed(eventData.Context);

    public Task SaveChangesCanceledAsync(DbContextEventData eventData, CancellationToken cancellationToken = default)
    {
        Failed(eventData.Context);
        return Task.CompletedTask;
    }

    /// <summary>
    /// EF Core reports a save failed by a concurrency conflict to the context's <see cref="DbContext.SaveChangesFailed"/>
    /// event only, not to interceptors.
    /// </summary>
    private void OnSaveChangesFailed(object? sender, SaveChangesFailedEventArgs e)
    {
        if (e.Exception is DbUpdateConcurrencyException)
        {
            Failed(sender as DbContext);
        }
    }

    /// <summary>
    /// The save failed. Events stay on their aggregates and dispatched ones stay marked (their handlers' changes and outbox
    /// rows are still tracked), so a retried save neither loses nor re-dispatches them; its change events, captured when it
    /// started, are dropped (a retry captures them again), and a transaction begun after it is not taken for its own.
    /// </summary>
    private void Failed(DbContext? context)
    {
        if (context is not null)
        {
            EndSave(context);
            if (_states.TryGetValue(context, out var state))
            {
                state.Changes.Failed(context);
            }
        }
    }

    /// <summary>The header enrichers of this scope, for rows written without an aggregate.</summary>
    internal IReadOnlyList<IOutboxHeaderEnricher> Enrichers => _enrichers;

    /// <summary>
    /// Takes note of a row added to the context without an aggregate: once a save has written it, it is handed to this
    /// process's relay and, as for the rows of aggregate events, an asynchronous save NOTIFYs other processes (a
    /// synchronous one leaves them to their next poll).
    /// </summary>
    internal void TrackPublished(DbContext context, OutboxMessage row) => StateOf(context).Published.Add(row);

    /// <summary>Finds the change events of this save; a save that throws here leaves nothing behind for a later commit.</summary>
    private void CaptureChanges(DbContext context, SaveState state)
    {
        try
        {
            state.Changes.Saving(context, _changes);
        }
        catch
        {
            state.Saving = false;
            state.Changes.Failed(context);
            throw;
        }
    }

    /// <summary>
    /// Ends a successful save's change events: rows its own transaction committed wake the relays; changes in an ambient
    /// transaction are returned, to be written now.
    /// </summary>
    private IReadOnlyList<CapturedChange>? SavedChangeEvents(DbContext context, SaveState state)
    {
        var (committed, writeNow) = state.Changes.Saved(context, _changes, state.CommitWillBeSeen(context));
        ChangeRowsCommitted(context, committed);
        return writeNow;
    }

    /// <summary>Change rows in an ambient transaction are written when the save ends, and wake the relays when the scope commits.</summary>
    private void WrittenInAmbientTransaction(DbContext context, int count) =>
        WhenCommitted(context, (Interceptor: this, Context: context, Count: count), static s => s.Interceptor.ChangeRowsCommitted(s.Context, s.Count));

    /// <summary>
    /// Runs <paramref name="committed"/> once what the save wrote is committed: now, or when the System.Transactions
    /// transaction it took part in commits (never, if that one rolls back).
    /// </summary>
    private static void WhenCommitted<TState>(DbContext context, TState state, Action<TState> committed)
    {
        if (context.Database.SystemTransaction() is { } transaction)
        {
            transaction.TransactionCompleted += (_, e) =>
            {
                if (e.Transaction?.TransactionInformation.Status == System.Transactions.TransactionStatus.Committed)
                {
                    committed(state);
                }
            };
        }
        else
        {
            committed(state);
        }
    }

    /// <summary>Rows inserted by statement are not handed over like tracked rows: the relays of this process claim them.</summary>
    private void ChangeRowsCommitted(DbContext context, int count)
    {
        if (count > 0)
        {
            Relay.RelayMetrics.Written(context.GetType().Name, count);
            _signal.Notify(context.GetType());
        }
    }

    private void EndSave(DbContext context)
    {
        // A backfill page's entities are swept by this save only: not by a save an after-commit handler makes on the context.
        // (A failed attempt keeps the sweep, so an execution strategy's retry runs the sources again.)
        EventSourceRunner.Detach(context);
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
        if (eventData.Context is not { } context || !_states.TryGetValue(context, out var state))
        {
            return result;
        }
        if (state.Changes.Committing(eventData.TransactionId) is { } changes)
        {
            // The save's own transaction (its statements have run, so generated keys are known) or the caller's.
            var rows = _changes.Rows(changes, state.CorrelationId, _enrichers);
            await _changes.InsertAsync(context, rows, cancellationToken).ConfigureAwait(false);
            state.Changes.Written(eventData.TransactionId, rows.Count);
        }

        if (_notifiers.Length > 0 && state.HasOutboxToCommit)
        {
            await NotifyOtherProcessesAsync(context, cancellationToken).ConfigureAwait(false);
            state.MarkNotified();
        }

        return result;
    }

    /// <summary>The synchronous save's own transaction: its change events are written before it commits.</summary>
    public InterceptionResult TransactionCommitting(DbTransaction transaction, TransactionEventData eventData, InterceptionResult result)
    {
        if (eventData.Context is { } context && _states.TryGetValue(context, out var state) && state.Changes.Committing(eventData.TransactionId) is { } changes)
        {
            var rows = _changes.Rows(changes, state.CorrelationId, _enrichers);
            _changes.Insert(context, rows);
            state.Changes.Written(eventData.TransactionId, rows.Count);
        }

        return result;
    }

    public async Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context && _states.TryGetValue(context, out var state))
        {
            // A save's own transaction is finished in SavedChangesAsync, which also reads the notified mark.
            if (state.IsSaveTransaction(eventData.TransactionId))
            {
                return;
            }

            var notified = state.TakeNotified();
            state.CommittedUnaccepted();
            var (rows, afterCommit) = state.TakeCommitted();
            ChangeRowsCommitted(context, state.Changes.Committed());
            if ((rows.Count > 0 && !notified) || afterCommit.Count > 0)
            {
                // EF Core lets go of the transaction only after this returns, and until then puts the committed transaction
                // on every command of the context: the NOTIFY below and the after-commit handlers' own statements on the
                // scope's context would fail. Let go of it now.
                await context.Database.UseTransactionAsync(null, cancellationToken).ConfigureAwait(false);
            }

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
                await RunAfterCommitAsync(afterCommit, transaction: null, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData)
    {
        if (eventData.Context is { } context && _states.TryGetValue(context, out var state) && !state.IsSaveTransaction(eventData.TransactionId))
        {
            state.TakeNotified();
            state.CommittedUnaccepted();
            var (rows, _) = state.TakeCommitted();
            _signal.Committed(context.GetType(), rows);
            ChangeRowsCommitted(context, state.Changes.Committed());
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
        Started(eventData);
        return result;
    }

    public ValueTask<DbTransaction> TransactionStartedAsync(DbConnection connection, TransactionEndEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        Started(eventData);
        return ValueTask.FromResult(result);
    }

    /// <summary>
    /// A transaction of the caller's given to EF Core (<c>UseTransaction</c>) may be committed past EF Core, where no commit of
    /// ours is seen: change events of its saves are written as each save ends, like those of an ambient transaction.
    /// </summary>
    public DbTransaction TransactionUsed(DbConnection connection, TransactionEventData eventData, DbTransaction result)
    {
        Used(eventData);
        return result;
    }

    public ValueTask<DbTransaction> TransactionUsedAsync(DbConnection connection, TransactionEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
    {
        Used(eventData);
        return ValueTask.FromResult(result);
    }

    private void Used(TransactionEventData eventData)
    {
        Forget(eventData.Context);
        if (eventData.Context is { } context)
        {
            StateOf(context).UsedTransactionId = eventData.TransactionId;
        }
    }

    /// <summary>A transaction started during a save is the save's own; EF Core's transaction id tells it from the caller's later ones.</summary>
    private void Started(TransactionEndEventData eventData)
    {
        Forget(eventData.Context);
        if (eventData.Context is { } context && _states.TryGetValue(context, out var state))
        {
            state.SaveTransactionId = state.Saving ? eventData.TransactionId : null;
            state.Changes.TransactionStarted(eventData.TransactionId, state.Saving);
        }
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Forget(eventData.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return Task.CompletedTask;
    }

    /// <summary>A savepoint in the transaction: the caller's, or EF Core's own around a save (released by the save, whatever its outcome).</summary>
    public void CreatedSavepoint(DbTransaction transaction, TransactionEventData eventData)
    {
        if (eventData.Context is { } context)
        {
            StateOf(context).SavepointCreated();
        }
    }

    public Task CreatedSavepointAsync(DbTransaction transaction, TransactionEventData eventData, CancellationToken cancellationToken = default)
    {
        CreatedSavepoint(transaction, eventData);
        return Task.CompletedTask;
    }

    public void ReleasedSavepoint(DbTransaction transaction, TransactionEventData eventData) => SavepointOf(eventData)?.SavepointReleased();

    public Task ReleasedSavepointAsync(DbTransaction transaction, TransactionEventData eventData, CancellationToken cancellationToken = default)
    {
        ReleasedSavepoint(transaction, eventData);
        return Task.CompletedTask;
    }

    /// <summary>Rolled back to a savepoint: the events of the saves since then run no after-commit handler, and their change events are not written.</summary>
    public void RolledBackToSavepoint(DbTransaction transaction, TransactionEventData eventData) => SavepointOf(eventData)?.RolledBackToSavepoint();

    public Task RolledBackToSavepointAsync(DbTransaction transaction, TransactionEventData eventData, CancellationToken cancellationToken = default)
    {
        RolledBackToSavepoint(transaction, eventData);
        return Task.CompletedTask;
    }

    private SaveState? SavepointOf(TransactionEventData eventData) =>
        eventData.Context is { } context && _states.TryGetValue(context, out var state) ? state : null;

    private void Forget(DbContext? context)
    {
        if (context is not null && _states.TryGetValue(context, out var state))
        {
            state.TakeCommitted();
            state.TakeNotified();
            state.Changes.Forget();
        }
    }

    private static readonly List<(EntityEntry Entry, IDomainEvent Event)> NoneSourced = [];

    private SaveState StateOf(DbContext context)
    {
        if (!_states.TryGetValue(context, out var state))
        {
            state = new SaveState();
            _states[context] = state;
            context.SaveChangesFailed += OnSaveChangesFailed;
        }

        return state;
    }

    /// <summary>
    /// A failed save leaves its events marked dispatched, since their handlers' changes and outbox rows are still tracked and
    /// a retry saves them. A change tracker cleared since (<c>ChangeTracker.Clear()</c>) dropped those: when none of the
    /// attempt's outbox rows is tracked any more, every event of the attempt is dispatched again, with new rows. (Some rows
    /// detached and others not is a caller's choice, left as it is; an attempt that wrote no outbox row leaves nothing to
    /// tell a cleared tracker by.)
    /// </summary>
    private static void ForgetDroppedAttempt(DbContext context, SaveState state)
    {
        if (state.Dispatched.Count == 0)
        {
            return;
        }

        var rows = 0;
        foreach (var row in state.Dispatched.Values)
        {
            if (row is null)
            {
                continue;
            }

            if (context.Entry(row).State != EntityState.Detached)
            {
                return;
            }

            rows++;
        }

        if (rows > 0)
        {
            state.Dispatched.Clear();
            state.ClearSkipped();
            state.CorrelationId = null;
        }
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

        if (state.Sourced is { } sourced)
        {
            foreach (var (entry, domainEvent) in sourced)
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
        if (!_states.TryGetValue(context, out var state))
        {
            return null;
        }

        // The sources' events of this save, and the keys it took, end with it.
        var sourced = state.Sourced;
        state.Sourced = null;
        state.ClearKeys();
        if (state.Dispatched.Count == 0 && state.Published.Count == 0)
        {
            return null;
        }

        // Only events still on tracked aggregates were saved; marks left by an abandoned attempt (a cleared
        // change tracker, a retried execution strategy) are dropped here. The save has just run DetectChanges and
        // accepted every change, so this pass runs none: there is nothing left for it to find.
        var events = new List<IDomainEvent>();
        var rows = new List<OutboxMessage>();
        List<(IHasDomainEvents Aggregate, List<IDomainEvent> Events)>? unaccepted = null;
        List<IDomainEvent>? accepted = null;
        var inTransaction = context.Database.CurrentTransaction is not null;

        // Without a commit to be seen (no transaction of the caller's, or one given with UseTransaction, which may be
        // committed past EF Core), the saves' events leave their aggregates at once, accepted or not.
        var commitSeen = state.CommitWillBeSeen(context);
        var tracker = context.ChangeTracker;
        var autoDetectChanges = tracker.AutoDetectChangesEnabled;
        tracker.AutoDetectChangesEnabled = false;
        try
        {
            foreach (var entry in tracker.Entries())
            {
                if (entry.Entity is IHasDomainEvents aggregate && aggregate.DomainEvents.Count > 0)
                {
                    // Loops, not LINQ: every save with events comes here, and each delegate and iterator is an allocation.
                    List<IDomainEvent>? saved = null;
                    foreach (var domainEvent in aggregate.DomainEvents)
                    {
                        // Held until the commit by an earlier save of this transaction, which already counted it.
                        if (!state.Dispatched.TryGetValue(domainEvent, out var row) || state.IsHeldUntilCommit(domainEvent))
                        {
                            continue;
                        }

                        (saved ??= []).Add(domainEvent);
                        if (row is not null)
                        {
                            rows.Add(row);
                        }

                        if (!state.IsSkipped(domainEvent))
                        {
                            events.Add(domainEvent);
                        }
                    }

                    if (saved is not null)
                    {
                        // SaveChangesAsync(acceptAllChangesOnSuccess: false) in the caller's transaction (EF Core's pattern
                        // under a retrying strategy) leaves the aggregate as it was: if the commit fails, the retry saves it
                        // again. Its events stay on it, and marked, until the commit.
                        if (commitSeen && entry.State is EntityState.Added or EntityState.Modified or EntityState.Deleted)
                        {
                            (unaccepted ??= []).Add((aggregate, saved));
                        }
                        else
                        {
                            aggregate.RemoveDomainEvents(saved);
                            (accepted ??= []).AddRange(saved);
                        }
                    }
                }
            }

            // Rows published without an aggregate were written when the save left them Unchanged; one detached since
            // (a cleared change tracker) was not.
            foreach (var row in state.Published)
            {
                if (context.Entry(row).State == EntityState.Unchanged)
                {
                    rows.Add(row);
                }
            }

            // A source's events live on no aggregate: those of entities still tracked were saved.
            foreach (var (entry, domainEvent) in sourced ?? NoneSourced)
            {
                if (entry.State != EntityState.Detached && state.Dispatched.TryGetValue(domainEvent, out var row))
                {
                    if (row is not null)
                    {
                        rows.Add(row);
                    }

                    if (!state.IsSkipped(domainEvent))
                    {
                        events.Add(domainEvent);
                    }
                }
            }
        }
        finally
        {
            tracker.AutoDetectChangesEnabled = autoDetectChanges;
        }

        state.Published.Clear();
        if (unaccepted is null && !state.HoldsUntilCommit)
        {
            state.Dispatched.Clear();
            state.ClearSkipped();
            state.CorrelationId = null;
        }
        else
        {
            // Only the marks of events that left their aggregates go; those held until the commit stay, and so do marks a
            // failed save of this transaction left for its retry.
            state.Unmark(accepted);
            state.Unmark(sourced?.Select(s => s.Event));
        }

        if (inTransaction)
        {
            state.AwaitCommit(rows, events, unaccepted);
            return null;
        }

        // Committed: the rows go to a relay of this process if one takes them. In a TransactionScope (or a transaction the
        // connection was enlisted in) they are committed only when it is; one rolled back takes them with it.
        if (rows.Count > 0)
        {
            WhenCommitted(context, (Signal: _signal, ContextType: context.GetType(), Rows: rows), static s => s.Signal.Committed(s.ContextType, s.Rows));
        }

        return (events, rows);
    }

    /// <summary>
    /// Tells relays in other processes that rows were committed, unless a relay of this process that reads the same database
    /// is running: it takes the rows the commit hands over, and claims the rest (change events written by statement), so
    /// nobody else needs waking, and the other relays' claims would only take turns on the claims' lock with its leases.
    /// </summary>
    private async Task NotifyOtherProcessesAsync(DbContext context, CancellationToken cancellationToken)
    {
        if (_notifiers.Length == 0 || _signal.HasRelayFor(context))
        {
            return;
        }

        foreach (var notifier in _notifiers)
        {
            await notifier.NotifyAsync(context, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Rolls back the System.Transactions transaction a save takes part in, after something ran in it failed: the failure
    /// may have aborted it on the database (PostgreSQL aborts on any error), and committing the scope would then roll back
    /// without a word. Rolled back here, disposing the completed scope throws <see cref="System.Transactions.TransactionAbortedException"/>.
    /// </summary>
    private void RollBack(System.Transactions.Transaction transaction, Exception reason)
    {
        try
        {
            transaction.Rollback(reason);
        }
        catch (Exception ex)
        {
            // Rollback runs the enlistments' and TransactionCompleted handlers on this thread: none of theirs may replace
            // the failure that made the rollback, nor fail a save that returns.
            LogRollbackFailed(_logger, ex);
        }
    }

    private static bool IsActive(System.Transactions.Transaction transaction)
    {
        try
        {
            return transaction.TransactionInformation.Status == System.Transactions.TransactionStatus.Active;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>
    /// In a System.Transactions transaction the save has not committed: the notifiers run inside it, as they do in a save's
    /// own transaction, and a failure fails it: the transaction is rolled back and the save throws.
    /// </summary>
    private async Task NotifyInSystemTransactionAsync(DbContext context, System.Transactions.Transaction transaction, CancellationToken cancellationToken)
    {
        try
        {
            await NotifyOtherProcessesAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            RollBack(transaction, ex);
            throw;
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
    /// and the next event's handlers still run. In a System.Transactions transaction (<paramref name="transaction"/>) they
    /// run inside it, before it commits: a database error there rolls it back (see <see cref="RollBack"/>) and is logged
    /// but not handed to the observers, since the save will not commit; the handlers of the events after it do not run.
    /// </summary>
    /// <returns>Whether any event was dispatched to its after-commit handlers, which may have run user code.</returns>
    private async Task<bool> RunAfterCommitAsync(List<IDomainEvent> events, System.Transactions.Transaction? transaction, CancellationToken cancellationToken)
    {
        var dispatched = false;
        for (var i = 0; i < events.Count; i++)
        {
            var domainEvent = events[i];
            if (transaction is not null && !IsActive(transaction))
            {
                LogAfterCommitSkipped(_logger, events.Count - i);
                return false;
            }

            dispatched = true;
            try
            {
                await _dispatcher.DispatchAfterCommitAsync(domainEvent, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                if (transaction is not null && CameFromTheDatabase(ex))
                {
                    LogScopeRolledBack(_logger, ex, domainEvent.GetType().Name);
                    RollBack(transaction, ex);
                    continue;
                }

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

        return dispatched;
    }

    /// <summary>
    /// After-commit handlers ran inside the save's System.Transactions transaction, on PostgreSQL. One that caught a
    /// database error of its own may have left the transaction aborted (PostgreSQL aborts on any error), and committing the
    /// scope would then roll it back without a word; one statement on the context's connection tells, and such a transaction
    /// is rolled back here. Any failure of that statement rolls it back: it is never thrown, since the save returns. Not done
    /// without connection pooling, where the statement would open a second connection and enlist it as well.
    /// </summary>
    private async Task CheckStillCommittableAsync(DbContext context, System.Transactions.Transaction transaction)
    {
        if (!IsActive(transaction) || !context.Database.IsPostgres() || !Pooled(context))
        {
            return;
        }

        try
        {
            await context.Database.ExecuteSqlRawAsync("SELECT 1", CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogAbortedByHandlers(_logger, ex);
            RollBack(transaction, ex);
        }
    }

    private static bool Pooled(DbContext context)
    {
        var settings = new DbConnectionStringBuilder { ConnectionString = context.Database.GetConnectionString() };
        return !settings.TryGetValue("Pooling", out var pooling) || !bool.TryParse(pooling?.ToString(), out var on) || on;
    }

    private static bool CameFromTheDatabase(Exception? exception) => exception switch
    {
        null => false,
        DbException => true,
        AggregateException all => all.InnerExceptions.Any(CameFromTheDatabase),
        _ => CameFromTheDatabase(exception.InnerException),
    };

    [LoggerMessage(4, LogLevel.Error, "An after-commit handler of {EventType} failed on the database inside the save's System.Transactions transaction (a TransactionScope); it is rolled back, and the save with it")]
    private static partial void LogScopeRolledBack(ILogger logger, Exception exception, string eventType);

    [LoggerMessage(5, LogLevel.Warning, "After-commit handlers of {Count} events are not run: the System.Transactions transaction of their save is no longer active")]
    private static partial void LogAfterCommitSkipped(ILogger logger, int count);

    [LoggerMessage(7, LogLevel.Error, "After-commit handlers left the save's System.Transactions transaction unable to commit (a database error caught inside one of them?); it is rolled back, and the save with it")]
    private static partial void LogAbortedByHandlers(ILogger logger, Exception exception);

    [LoggerMessage(6, LogLevel.Error, "Rolling back the save's System.Transactions transaction failed")]
    private static partial void LogRollbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(1, LogLevel.Warning, "NOTIFY after a committed save failed; relays in other processes find the rows at their next poll")]
    private static partial void LogNotifyFailed(ILogger logger, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "An after-commit handler of {EventType} failed; the save itself is committed")]
    private static partial void LogAfterCommitFailed(ILogger logger, Exception exception, string eventType);

    [LoggerMessage(3, LogLevel.Error, "The after-commit failure observer {Observer} threw")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, string observer);

    private sealed class SaveState
    {
        private List<OutboxMessage> _committedRows = [];
        private List<IDomainEvent> _committedEvents = [];

        public Dictionary<IDomainEvent, OutboxMessage?> Dispatched { get; } = new(ReferenceEqualityComparer.Instance);

        public Guid? CorrelationId { get; set; }

        /// <summary>Gets the change events waiting for a commit.</summary>
        public PendingChangeEvents Changes { get; } = new();

        /// <summary>Gets or sets EF Core's id of the last transaction of the caller's given to EF Core with <c>UseTransaction</c>.</summary>
        public Guid? UsedTransactionId { get; set; }

        /// <summary>
        /// Whether the context is in a transaction of the caller's whose commit this interceptor will see: not one given with
        /// <c>UseTransaction</c>, which may be committed past EF Core.
        /// </summary>
        public bool CommitWillBeSeen(DbContext context) =>
            context.Database.CurrentTransaction is { } current && current.TransactionId != UsedTransactionId;

        /// <summary>Gets or sets EF Core's id of the transaction the save under way started, if it started one.</summary>
        public Guid? SaveTransactionId { get; set; }

        /// <summary>Whether a transaction is the save's own: one it started while it is still under way.</summary>
        public bool IsSaveTransaction(Guid transactionId) => Saving && SaveTransactionId == transactionId;

        /// <summary>Gets or sets the events the event sources yielded for the save under way.</summary>
        public List<(EntityEntry Entry, IDomainEvent Event)>? Sourced { get; set; }

        // Made when first needed: most saves have no keyed event, and each set is an allocation per save.
        private HashSet<string>? _keys;
        private HashSet<IDomainEvent>? _skipped;

        /// <summary>Gets the keys of keyed events this save took.</summary>
        public HashSet<string> Keys => _keys ??= new(StringComparer.Ordinal);

        /// <summary>Gets the keyed events marked dispatched without being dispatched, their key handled already.</summary>
        public HashSet<IDomainEvent> Skipped => _skipped ??= new(ReferenceEqualityComparer.Instance);

        public void ClearKeys() => _keys?.Clear();

        public bool IsSkipped(IDomainEvent domainEvent) => _skipped?.Contains(domainEvent) == true;

        public void ClearSkipped() => _skipped?.Clear();

        /// <summary>Rows added without an aggregate since the last successful save.</summary>
        public List<OutboxMessage> Published { get; } = [];

        /// <summary>Whether a SaveChanges is under way: a commit inside it is the save's own transaction.</summary>
        public bool Saving { get; set; }

        private bool _notified;

        /// <summary>Whether the transaction about to commit holds outbox rows: this save's, or earlier saves' in the caller's transaction.</summary>
        public bool HasOutboxToCommit => _committedRows.Count > 0 || Changes.HaveRowsInTransaction || Published.Count > 0 || HasDispatchedRow();

        private bool HasDispatchedRow()
        {
            foreach (var row in Dispatched.Values)
            {
                if (row is not null)
                {
                    return true;
                }
            }

            return false;
        }

        public void MarkNotified() => _notified = true;

        public bool TakeNotified()
        {
            var notified = _notified;
            _notified = false;
            return notified;
        }

        public void AwaitCommit(List<OutboxMessage> rows, List<IDomainEvent> events, List<(IHasDomainEvents Aggregate, List<IDomainEvent> Events)>? unaccepted)
        {
            _committedRows.AddRange(rows);
            _committedEvents.AddRange(events);
            foreach (var (aggregate, held) in unaccepted ?? [])
            {
                _held ??= new(ReferenceEqualityComparer.Instance);
                foreach (var domainEvent in held)
                {
                    _held[domainEvent] = aggregate;
                }
            }
        }

        // Events of saves that did not accept their changes, with their aggregates, on which they stay, marked, until the commit.
        private Dictionary<IDomainEvent, IHasDomainEvents>? _held;

        /// <summary>Gets whether a save of the transaction under way holds events on their aggregates until its commit.</summary>
        public bool HoldsUntilCommit => _held is not null;

        /// <summary>Whether an earlier save of the transaction under way holds <paramref name="domainEvent"/> until its commit.</summary>
        public bool IsHeldUntilCommit(IDomainEvent domainEvent) => _held?.ContainsKey(domainEvent) == true;

        /// <summary>Removes the marks of events that have left their aggregates.</summary>
        public void Unmark(IEnumerable<IDomainEvent>? events)
        {
            foreach (var domainEvent in events ?? [])
            {
                Dispatched.Remove(domainEvent);
                _skipped?.Remove(domainEvent);
            }
        }

        /// <summary>The transaction committed: events its saves left on their aggregates (changes not accepted) leave them now.</summary>
        public void CommittedUnaccepted()
        {
            if (_held is null)
            {
                return;
            }

            foreach (var (domainEvent, aggregate) in _held)
            {
                aggregate.RemoveDomainEvents([domainEvent]);
            }

            Unmark(_held.Keys);
            _held = null;
            if (Dispatched.Count == 0)
            {
                CorrelationId = null;
            }
        }

        // Where the held rows and events stood when each savepoint of the transaction was made, innermost last. EF Core's
        // interception does not name a savepoint: a rollback to one or its release is taken to be the innermost's. EF Core's
        // own savepoint around a save in the caller's transaction is made and released in pairs (also when the save fails).
        private List<(int Rows, int Events, int Changes)>? _savepoints;

        public void SavepointCreated() => (_savepoints ??= []).Add((_committedRows.Count, _committedEvents.Count, Changes.WaitingForCommit));

        public void SavepointReleased()
        {
            if (_savepoints is { Count: > 0 })
            {
                _savepoints.RemoveAt(_savepoints.Count - 1);
            }
        }

        /// <summary>What the saves since the savepoint held is rolled back with them; the savepoint stays.</summary>
        public void RolledBackToSavepoint()
        {
            if (_savepoints is not { Count: > 0 })
            {
                return;
            }

            var (rows, events, changes) = _savepoints[^1];
            _committedRows.RemoveRange(rows, _committedRows.Count - rows);
            _committedEvents.RemoveRange(events, _committedEvents.Count - events);
            Changes.RolledBackTo(changes);
        }

        public (List<OutboxMessage> Rows, List<IDomainEvent> Events) TakeCommitted()
        {
            _savepoints?.Clear();
            _held = null;
            var taken = (_committedRows, _committedEvents);
            _committedRows = [];
            _committedEvents = [];
            return taken;
        }
    }
}
