using System.Data;
using System.Data.Common;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// Claims, completes and cleans up outbox rows, one statement each, through the application's DbContext connection:
/// the statements of the first registered <see cref="IOutboxRelayDatabase"/> that serves the context's database, or
/// the built-in PostgreSQL and SQLite ones. A store may keep a few contexts with their connections open between
/// statements (<c>keepOpen</c>), so that a statement does not pay for a new scope, a new context and the connection
/// pool's reset of the connection (Npgsql's <c>DISCARD ALL</c>, sent with the first statement after each open).
/// </summary>
internal sealed class OutboxStore<TContext> : IDisposable
    where TContext : DbContext
{
    /// <summary>A connection kept open longer than this without a statement is closed rather than used again.</summary>
    internal static readonly TimeSpan MaxIdle = TimeSpan.FromSeconds(10);

    /// <summary>A connection kept open is given back to its pool after this long, busy or not, so that the pool's lifetime and pruning apply.</summary>
    internal static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    private readonly IServiceScopeFactory _scopeFactory;
    private readonly int _keepOpen;
    private readonly Lock _gate = new();

    // Kept contexts, the most recently used last. Under _gate.
    private readonly List<Session> _kept = [];
    private bool _disposed;

    // Whether the statements allow keeping connections: set with _statements.
    private volatile bool _mayKeep;
    private IOutboxRelayStatements? _statements;
    private string? _database;
    private volatile bool _moreKeysToScan;

    // The registered notifiers (singletons), resolved at the first open; empty when there are none or they cannot be made.
    private Outbox.IOutboxCommitNotifier[]? _notifiers;

    /// <param name="scopeFactory">Makes the scope each context comes from.</param>
    /// <param name="keepOpen">How many contexts, with their connections open, are kept between statements; 0: a new scope and connection for each.</param>
    public OutboxStore(IServiceScopeFactory scopeFactory, int keepOpen = 0)
    {
        _scopeFactory = scopeFactory;
        _keepOpen = keepOpen;
    }

    /// <summary>Contexts kept open between statements now.</summary>
    internal int OpenKept
    {
        get
        {
            lock (_gate)
            {
                return _kept.Count;
            }
        }
    }

    /// <summary>Gets whether any <see cref="Outbox.IOutboxCommitNotifier"/> is registered, once the first connection was opened.</summary>
    internal bool? HasNotifiers => Volatile.Read(ref _notifiers) is { } notifiers ? notifiers.Length > 0 : null;

    /// <summary>Gets the outbox the relay's last connection was opened on (<see cref="DatabaseOf"/>), once one was.</summary>
    internal string? Database => Volatile.Read(ref _database);

    /// <summary>
    /// Names the outbox a context writes: the server and database its connection reports, and the table of its model; null
    /// when the connection names no single server (a multi-host connection string) or cannot say where it points, so that
    /// two such are never taken for the same. A schema chosen by the connection (search_path) is not seen: two tenants told
    /// apart that way look the same.
    /// </summary>
    internal static string? DatabaseOf(DbContext context)
    {
        try
        {
            var connection = context.Database.GetDbConnection();
            return string.IsNullOrEmpty(connection.DataSource) || string.IsNullOrEmpty(connection.Database)
                ? null
                : connection.DataSource + "|" + connection.Database + "|" + RelayTable.NameOf(context, withSchema: true);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Whether the last claim left keys past those it read (its scan over keys stopped before the last key, or it filled the batch without one).</summary>
    public bool KeyScanUnfinished => _moreKeysToScan;

    /// <summary>
    /// Leases up to <paramref name="batchSize"/> rows to <paramref name="owner"/> for <paramref name="lease"/>. On PostgreSQL
    /// the lease is measured on the database's clock; <paramref name="now"/> (the relay host's clock) is used only on SQLite,
    /// whose relay shares the writers' process.
    /// </summary>
    /// <returns>
    /// The leased rows in id order, and whether the claim left rows because their keys were being sent by a lease whose owner
    /// starts with <paramref name="ownerPrefix"/> (always on SQLite).
    /// </returns>
    public Task<(IReadOnlyList<OutboxEnvelope> Rows, bool FoundBusyKeys)> ClaimAsync(string owner, string ownerPrefix, int batchSize, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithConnectionAsync(async (statements, connection) =>
        {
            var claim = await statements.ClaimAsync(connection, new OutboxClaimRequest(owner, ownerPrefix, batchSize, now, lease), cancellationToken).ConfigureAwait(false);
            _moreKeysToScan = claim.MoreKeysToScan;

            // Each key's rows go out in the order of this list: put in id order here, whatever order the statement returned.
            var rows = claim.Rows as List<OutboxEnvelope> ?? [.. claim.Rows];
            rows.Sort(static (a, b) => a.Id.CompareTo(b.Id));
            return ((IReadOnlyList<OutboxEnvelope>)rows, claim.FoundBusyKeys);
        }, cancellationToken);

    /// <summary>Whether a claim now could find anything (<see cref="IOutboxRelayStatements.MayClaimAsync"/>); no lease is taken.</summary>
    public Task<bool> MayClaimAsync(string owner, string ownerPrefix, int batchSize, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.MayClaimAsync(connection, new OutboxClaimRequest(owner, ownerPrefix, batchSize, now, lease), cancellationToken), cancellationToken);

    /// <summary>
    /// Leases to <paramref name="owner"/> those of <paramref name="rows"/> (committed by this process, not yet attempted)
    /// that a claim would take now; returns their ids and message ids. The others are left for a claim.
    /// </summary>
    public Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(string owner, IReadOnlyList<OutboxEnvelope> rows, DateTime now, TimeSpan lease, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.ClaimCommittedAsync(connection, new OutboxClaimRequest(owner, owner, rows.Count, now, lease), rows, cancellationToken), cancellationToken);

    public Task<int> MarkProcessedAsync(IReadOnlyCollection<long> ids, string owner, DateTime now, CancellationToken cancellationToken) =>
        ids.Count == 0
            ? Task.FromResult(0)
            : WithConnectionAsync((statements, connection) => statements.MarkProcessedAsync(connection, owner, ids, now, cancellationToken), cancellationToken);

    public Task<int> ReleaseAsync(IReadOnlyCollection<long> ids, string owner, CancellationToken cancellationToken) =>
        ids.Count == 0
            ? Task.FromResult(0)
            : WithConnectionAsync((statements, connection) => statements.ReleaseAsync(connection, owner, ids, cancellationToken), cancellationToken);

    /// <summary>Records a failed attempt; the next attempt is due <paramref name="backoff"/> from now (the database's now on PostgreSQL).</summary>
    public Task<int> MarkFailedAsync(long id, string owner, int attempts, bool dead, DateTime now, TimeSpan backoff, string error, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.MarkFailedAsync(connection, new OutboxFailedAttempt(id, owner, attempts, dead, now, backoff, RelayTable.Stored(error)), cancellationToken), cancellationToken);

    public Task<int> DeleteProcessedAsync(DateTime cutoff, int batchSize, CancellationToken cancellationToken) =>
        WithConnectionAsync((statements, connection) => statements.DeleteProcessedAsync(connection, cutoff, batchSize, cancellationToken), cancellationToken);

    private async Task<T> WithConnectionAsync<T>(Func<IOutboxRelayStatements, DbConnection, Task<T>> run, CancellationToken cancellationToken)
    {
        var session = await TakeKeptAsync().ConfigureAwait(false) ?? await OpenAsync(cancellationToken).ConfigureAwait(false);
        T result;
        try
        {
            result = await run(Volatile.Read(ref _statements)!, session.Connection).ConfigureAwait(false);
        }
        catch
        {
            // The connection may be broken, or in a state nobody should inherit: it is closed (a pooled one is reset by its
            // pool). The others were opened as long ago and are likely to share its fate (a restart, a failover): the next
            // statements open new ones. The statement's own error is the one to report.
            await session.DisposeQuietlyAsync().ConfigureAwait(false);
            await CloseKeptAsync().ConfigureAwait(false);
            throw;
        }

        await KeepAsync(session).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Sends the context's commit notifications (<see cref="Outbox.IOutboxCommitNotifier"/>) on a context of its own, outside
    /// any transaction, so that the relays of other processes claim. False when none is registered.
    /// </summary>
    internal async Task<bool> NotifyOtherProcessesAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _notifiers) is not { Length: > 0 } notifiers)
        {
            return false;
        }

        await using var scope = _scopeFactory.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TContext>();
        foreach (var notifier in notifiers)
        {
            await notifier.NotifyAsync(context, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    private static Outbox.IOutboxCommitNotifier[] NotifiersOf(IServiceProvider services)
    {
        try
        {
            return [.. services.GetServices<Outbox.IOutboxCommitNotifier>()];
        }
        catch (Exception)
        {
            // A notifier that cannot be made wakes no one: the other relays poll.
            return [];
        }
    }

    private async Task<Session> OpenAsync(CancellationToken cancellationToken)
    {
        var scope = _scopeFactory.CreateAsyncScope();
        try
        {
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            // One instance per store, even when two batches ask at once: an instance may keep state between claims.
            if (Volatile.Read(ref _statements) is null)
            {
                var statements = StatementsFor(context, scope.ServiceProvider);
                if (Interlocked.CompareExchange(ref _statements, statements, null) is null)
                {
                    // Asked once: a provider's answer that throws counts as no.
                    try
                    {
                        _mayKeep = statements.ConnectionsCanBeKept;
                    }
                    catch (Exception)
                    {
                        _mayKeep = false;
                    }
                }
            }

            var connection = context.Database.GetDbConnection();
            var opened = false;
            if (connection.State != ConnectionState.Open)
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                opened = true;
            }

            if (Volatile.Read(ref _notifiers) is null)
            {
                Volatile.Write(ref _notifiers, NotifiersOf(scope.ServiceProvider));
            }

            // After the notifiers are known: from here on commits hand rows over (the relay's Reads), and it tracks those left behind.
            Volatile.Write(ref _database, DatabaseOf(context));

            return new Session(scope, connection, opened);
        }
        catch
        {
            try
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The error to report is the one that stopped the open.
            }

            throw;
        }
    }

    /// <summary>The most recently used kept context, if any; those kept too long, idle or not, are closed on the way.</summary>
    private async Task<Session?> TakeKeptAsync()
    {
        Session? taken = null;
        List<Session>? stale;
        lock (_gate)
        {
            stale = TakeStale();
            if (_kept.Count > 0)
            {
                taken = _kept[^1];
                _kept.RemoveAt(_kept.Count - 1);
            }
        }

        await DisposeAllAsync(stale).ConfigureAwait(false);
        return taken;
    }

    /// <summary>Keeps a context whose statement succeeded, when the statements allow it and fewer than the store's limit are kept.</summary>
    private async Task KeepAsync(Session session)
    {
        List<Session>? stale;
        var kept = false;
        lock (_gate)
        {
            stale = TakeStale();
            if (!_disposed && _mayKeep && _kept.Count < _keepOpen && session.IsOpen && Stopwatch.GetElapsedTime(session.OpenedAt) < MaxAge)
            {
                session.LastUsed = Stopwatch.GetTimestamp();
                _kept.Add(session);
                kept = true;
            }
        }

        await DisposeAllAsync(stale).ConfigureAwait(false);
        if (!kept)
        {
            await session.DisposeQuietlyAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Under the gate: removes and returns the kept contexts idle longer than <see cref="MaxIdle"/>, older than <see cref="MaxAge"/>, or closed.</summary>
    private List<Session>? TakeStale()
    {
        List<Session>? stale = null;
        for (var i = _kept.Count - 1; i >= 0; i--)
        {
            var session = _kept[i];
            if (Stopwatch.GetElapsedTime(session.LastUsed) >= MaxIdle || Stopwatch.GetElapsedTime(session.OpenedAt) >= MaxAge || !session.IsOpen)
            {
                (stale ??= []).Add(session);
                _kept.RemoveAt(i);
            }
        }

        return stale;
    }

    /// <summary>Removes and returns every kept context; with <paramref name="stopKeeping"/>, none is kept from then on.</summary>
    private List<Session> TakeAll(bool stopKeeping = false)
    {
        lock (_gate)
        {
            _disposed |= stopKeeping;
            List<Session> all = [.. _kept];
            _kept.Clear();
            return all;
        }
    }

    private static async Task DisposeAllAsync(List<Session>? sessions)
    {
        if (sessions is null)
        {
            return;
        }

        foreach (var session in sessions)
        {
            await session.DisposeQuietlyAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connections kept open (they go back to the pool); the store opens new ones as it needs them. Never throws.</summary>
    public Task CloseKeptAsync() => DisposeAllAsync(TakeAll());

    /// <summary>Closes the connections kept open, and keeps none from now on (a stopped relay's late marks included). Never throws.</summary>
    public Task StopKeepingAsync() => DisposeAllAsync(TakeAll(stopKeeping: true));

    /// <summary>Closes the connections kept open, and keeps none from now on. Never throws.</summary>
    public void Dispose()
    {
        foreach (var session in TakeAll(stopKeeping: true))
        {
            session.DisposeQuietly();
        }
    }

    /// <summary>A scope whose context's connection the store opened (or found open) for its statements.</summary>
    private sealed class Session(AsyncServiceScope scope, DbConnection connection, bool opened)
    {
        public DbConnection Connection { get; } = connection;

        public long OpenedAt { get; } = Stopwatch.GetTimestamp();

        public long LastUsed { get; set; } = Stopwatch.GetTimestamp();

        /// <summary>Whether the connection says it is open; a provider's property that throws says no.</summary>
        public bool IsOpen
        {
            get
            {
                try
                {
                    return Connection.State == ConnectionState.Open;
                }
                catch (Exception)
                {
                    return false;
                }
            }
        }

        /// <summary>Closes the connection if the store opened it, then ends the scope; what fails on the way is not the caller's error.</summary>
        public async Task DisposeQuietlyAsync()
        {
            try
            {
                if (opened)
                {
                    await Connection.CloseAsync().ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                // A broken connection, or services already disposed with the host: nothing to save.
            }
            finally
            {
                try
                {
                    await scope.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // The application's services were disposed first.
                }
            }
        }

        /// <summary>As <see cref="DisposeQuietlyAsync"/>, for a relay disposed synchronously.</summary>
        public void DisposeQuietly()
        {
            try
            {
                if (opened)
                {
                    Connection.Close();
                }
            }
            catch (Exception)
            {
                // A broken connection, or services already disposed with the host: nothing to save.
            }
            finally
            {
                try
                {
                    ((IDisposable)scope).Dispose();
                }
                catch (Exception)
                {
                    // The application's services were disposed first, or one of them can only be disposed asynchronously.
                }
            }
        }
    }

    private static IOutboxRelayStatements StatementsFor(TContext context, IServiceProvider services) =>
        services.GetServices<IOutboxRelayDatabase>().Select(d => d.For(context)).FirstOrDefault(s => s is not null)
        ?? RelayTable.BuiltIn(context)
        ?? throw new NotSupportedException(
            $"The outbox relay has statements for PostgreSQL and SQLite; {context.Database.ProviderName} needs an IOutboxRelayDatabase of its own (registered as a singleton).");
}
