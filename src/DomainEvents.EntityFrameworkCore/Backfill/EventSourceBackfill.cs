using System.Diagnostics;
using System.Linq.Expressions;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Keys;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>
/// The backfill: a lease on the checkpoint row, then pages in key order, each read and saved in a scope of its own with the
/// checkpoint moved in the same transaction. The checkpoint's owner is a concurrency token, so a page whose run lost the
/// backfill to another (its lease ran out) commits nothing.
/// </summary>
internal sealed partial class EventSourceBackfill<TContext>(IServiceScopeFactory scopes, TimeProvider time, ILogger<EventSourceBackfill<TContext>>? logger = null)
    : IEventSourceBackfill<TContext>
    where TContext : DbContext
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    public async Task<BackfillProgress> RunAsync<TEntity>(BackfillOptions? options = null, IProgress<BackfillProgress>? progress = null, CancellationToken cancellationToken = default)
        where TEntity : class
    {
        options ??= new BackfillOptions();
        options.Validate();
        var name = options.Name ?? typeof(TEntity).Name;
        var owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
        var clock = Stopwatch.StartNew();

        IPager<TEntity> pager;
        EventSourceCheckpoint acquired;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<TContext>();
            pager = Pager<TEntity>.For(db, scope.ServiceProvider.GetRequiredService<EventSourceRunner>());
            acquired = await AcquireAsync(db, typeof(TEntity), name, owner, options, cancellationToken).ConfigureAwait(false);
        }

        var readThisRun = 0L;
        try
        {
            long total;
            await using (var scope = scopes.CreateAsyncScope())
            {
                total = acquired.EntitiesRead + await pager.CountAfterAsync(scope.ServiceProvider.GetRequiredService<TContext>(), acquired.Position, cancellationToken).ConfigureAwait(false);
            }

            var state = new BackfillProgress(name, acquired.EntitiesRead, acquired.EventsProduced, acquired.KeysSkipped, total, TimeSpan.Zero, 0, Completed: false);
            LogStarted(_logger, name, typeof(TEntity).Name, acquired.Position is null ? "the first entity" : $"after {acquired.Position}", total - acquired.EntitiesRead);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var page = await RunPageAsync(pager, name, owner, options, cancellationToken).ConfigureAwait(false);
                readThisRun += page.Read;
                var seconds = clock.Elapsed.TotalSeconds;
                state = state with
                {
                    EntitiesRead = page.Checkpoint.EntitiesRead,
                    EventsProduced = page.Checkpoint.EventsProduced,
                    KeysSkipped = page.Checkpoint.KeysSkipped,
                    EntitiesTotal = Math.Max(total, page.Checkpoint.EntitiesRead),
                    Elapsed = clock.Elapsed,
                    EntitiesPerSecond = seconds > 0 ? readThisRun / seconds : 0,
                    Completed = page.Checkpoint.CompletedAt is not null,
                };
                progress?.Report(state);
                if (state.Completed)
                {
                    LogCompleted(_logger, name, state.EntitiesRead, state.EventsProduced, state.KeysSkipped, state.Elapsed.TotalSeconds);
                    return state;
                }
            }
        }
        catch (Exception ex) when (ex is not BackfillAlreadyRunningException)
        {
            // Cancelled, or failed (a handler, the progress callback, the database): another run need not wait out the lease.
            await ReleaseAsync(name, owner).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Takes the backfill for this run: a free or expired checkpoint row, or a new one.</summary>
    private async Task<EventSourceCheckpoint> AcquireAsync(TContext db, Type entityType, string name, string owner, BackfillOptions options, CancellationToken cancellationToken)
    {
        if (db.Model.FindEntityType(typeof(EventSourceCheckpoint)) is null || db.Model.FindEntityType(typeof(HandledEventKey)) is null)
        {
            throw new BackfillNotPossibleException(entityType, $"{typeof(TContext).Name} has no table of handled keys and checkpoints: call modelBuilder.AddDomainEventsKeyedEvents() in OnModelCreating and add a migration.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        var checkpoint = await db.Set<EventSourceCheckpoint>().AsTracking().SingleOrDefaultAsync(c => c.Name == name, cancellationToken).ConfigureAwait(false);
        if (checkpoint is null)
        {
            checkpoint = new EventSourceCheckpoint { Name = name, StartedAt = now };
            db.Add(checkpoint);
        }
        else if (checkpoint.Owner is not null && checkpoint.LeaseExpiresAt > now)
        {
            throw new BackfillAlreadyRunningException(name, checkpoint.Owner, checkpoint.LeaseExpiresAt);
        }
        else if (!options.Resume || checkpoint.CompletedAt is not null)
        {
            checkpoint.Position = null;
            checkpoint.EntitiesRead = checkpoint.EventsProduced = checkpoint.KeysSkipped = 0;
            checkpoint.StartedAt = now;
            checkpoint.CompletedAt = null;
        }

        checkpoint.Owner = owner;
        checkpoint.LeaseExpiresAt = now + options.LeaseDuration;
        checkpoint.UpdatedAt = now;
        db.ChangeTracker.DetectChanges();
        try
        {
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException ex)
        {
            // Another run inserted the row or took it between our read and our write (the owner is a concurrency token).
            db.ChangeTracker.Clear();
            var holder = await db.Set<EventSourceCheckpoint>().AsNoTracking().SingleOrDefaultAsync(c => c.Name == name, cancellationToken).ConfigureAwait(false);
            if (holder is null)
            {
                throw new InvalidOperationException($"The checkpoint of the backfill '{name}' could not be written: {ex.Message}", ex);
            }

            throw new BackfillAlreadyRunningException(name, holder.Owner, holder.LeaseExpiresAt);
        }

        return checkpoint;
    }

    private async Task<(int Read, EventSourceCheckpoint Checkpoint)> RunPageAsync<TEntity>(
        IPager<TEntity> pager, string name, string owner, BackfillOptions options, CancellationToken cancellationToken)
        where TEntity : class
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TContext>();
            try
            {
                // The page is read and saved in one transaction, its rows held from the read to the commit (see IPager): the
                // sources decide on the state the page commits with, never on one a writer replaced in between.
                return await db.Database.CreateExecutionStrategy().ExecuteAsync(async ct =>
                {
                    db.ChangeTracker.Clear();
                    await using var transaction = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
                    var page = await ReadAndSavePageAsync(db, pager, name, owner, options, ct).ConfigureAwait(false);
                    await transaction.CommitAsync(ct).ConfigureAwait(false);
                    return page;
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (DbUpdateConcurrencyException ex) when (ex.Entries.Any(e => e.Entity is EventSourceCheckpoint))
            {
                db.ChangeTracker.Clear();
                var holder = await db.Set<EventSourceCheckpoint>().AsNoTracking().SingleOrDefaultAsync(c => c.Name == name, cancellationToken).ConfigureAwait(false);
                throw new BackfillAlreadyRunningException(name, holder?.Owner, holder?.LeaseExpiresAt);
            }
            catch (DbUpdateException ex) when (attempt < options.MaxPageAttempts && LostARaceForAKey(ex))
            {
                // A concurrent save took one of the page's keys first (the ledger's primary key decided): read the page again.
                LogPageRetried(_logger, ex, name, attempt);
            }
            catch (Exception ex) when (attempt < options.MaxPageAttempts && RolledBackByTheDatabase(ex))
            {
                // The page's rows and a writer's were taken in opposite orders (a deadlock), or a serialization failure: the
                // database rolled the page back; read it again.
                LogPageRetried(_logger, ex, name, attempt);
            }
        }
    }

    private async Task<(int Read, EventSourceCheckpoint Checkpoint)> ReadAndSavePageAsync<TEntity>(
        TContext db, IPager<TEntity> pager, string name, string owner, BackfillOptions options, CancellationToken cancellationToken)
        where TEntity : class
    {
        var checkpoint = await db.Set<EventSourceCheckpoint>().AsTracking().SingleOrDefaultAsync(c => c.Name == name, cancellationToken).ConfigureAwait(false);
        if (checkpoint is null || checkpoint.Owner != owner)
        {
            throw new BackfillAlreadyRunningException(name, checkpoint?.Owner, checkpoint?.LeaseExpiresAt);
        }

        var (entities, end) = await pager.NextAsync(db, checkpoint.Position, options.PageSize, cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow().UtcDateTime;
        var entry = db.Entry(checkpoint);
        checkpoint.UpdatedAt = now;
        checkpoint.LeaseExpiresAt = now + options.LeaseDuration;
        if (end is null)
        {
            checkpoint.CompletedAt = now;
            checkpoint.Owner = null;
            checkpoint.LeaseExpiresAt = null;
        }
        else
        {
            if (end == checkpoint.Position)
            {
                throw new InvalidOperationException($"The backfill '{name}' read a page that ends where the last one did ({end}): the database orders the keys differently from how it compares them.");
            }

            checkpoint.Position = end;
            checkpoint.EntitiesRead += entities.Count;
            var (produced, skipped) = (checkpoint.EventsProduced, checkpoint.KeysSkipped);
            EventSourceRunner.Attach(db, new BackfillSweep(entities, (p, s) =>
            {
                // Set through the entry: the save may run without automatic change detection.
                entry.Property(c => c.EventsProduced).CurrentValue = produced + p;
                entry.Property(c => c.KeysSkipped).CurrentValue = skipped + s;
            }));
        }

        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return (entities.Count, checkpoint);
    }

    /// <summary>
    /// A concurrent save took one of the page's keys (the ledger's primary key refused ours), or another unique value a
    /// handler writes: read again, the page sees the other save's commit. Anything else fails the run at once.
    /// </summary>
    private static bool LostARaceForAKey(DbUpdateException ex) =>
        ex.Entries.Any(e => e.Entity is HandledEventKey) || ex.InnerException is System.Data.Common.DbException { SqlState: "23505" };

    /// <summary>
    /// A deadlock (40P01), a serialization failure (40001) or a lock the page waited for longer than its lock timeout (55P03),
    /// here or under the exception: the page was rolled back.
    /// </summary>
    private static bool RolledBackByTheDatabase(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Data.Common.DbException { SqlState: "40P01" or "40001" or "55P03" })
            {
                return true;
            }
        }

        return false;
    }

    private async Task ReleaseAsync(string name, string owner)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TContext>();
            var checkpoint = await db.Set<EventSourceCheckpoint>().AsTracking().SingleOrDefaultAsync(c => c.Name == name).ConfigureAwait(false);
            if (checkpoint?.Owner == owner)
            {
                checkpoint.Owner = null;
                checkpoint.LeaseExpiresAt = null;
                db.ChangeTracker.DetectChanges();
                await db.SaveChangesAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            // The lease runs out by itself.
            LogReleaseFailed(_logger, ex, name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Backfill {Name} of {EntityType} starts from {Start}, {Left} entities to read")]
    private static partial void LogStarted(ILogger logger, string name, string entityType, string start, long left);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backfill {Name} done: {Read} entities read, {Produced} events produced, {Skipped} keys already handled, in {Seconds:0.0} s")]
    private static partial void LogCompleted(ILogger logger, string name, long read, long produced, long skipped, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backfill {Name}: a page lost a race for a key to a concurrent save, or the database rolled it back for a writer (attempt {Attempt}); reading it again")]
    private static partial void LogPageRetried(ILogger logger, Exception exception, string name, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Backfill {Name}: the cancelled run could not release its lease; it runs out by itself")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception, string name);
}

/// <summary>Reads the pages of one entity type in key order, from a position stored as JSON.</summary>
internal interface IPager<TEntity>
    where TEntity : class
{
    /// <summary>The next page: its entities, and the position after it (null when the pass has no row left).</summary>
    Task<(List<TEntity> Entities, string? End)> NextAsync(DbContext db, string? position, int size, CancellationToken cancellationToken);

    Task<long> CountAfterAsync(DbContext db, string? position, CancellationToken cancellationToken);
}

internal static class Pager<TEntity>
    where TEntity : class
{
    public static IPager<TEntity> For(DbContext db, EventSourceRunner sources)
    {
        var entityType = db.Model.FindEntityType(typeof(TEntity))
                         ?? throw new BackfillNotPossibleException(typeof(TEntity), $"it is not an entity type of {db.GetType().Name}.");
        if (!sources.HasSourcesFor(typeof(TEntity)))
        {
            throw new BackfillNotPossibleException(typeof(TEntity), "no event source is registered for it: AddEventSource<" + typeof(TEntity).Name + ">(...).");
        }

        if (entityType.FindPrimaryKey() is not { Properties: [var key] })
        {
            throw new BackfillNotPossibleException(typeof(TEntity), "the backfill pages by a key of one column, and this entity type's key has several (or none).");
        }

        var pager = typeof(KeyPager<,>).MakeGenericType(typeof(TEntity), key.ClrType);
        return (IPager<TEntity>)Activator.CreateInstance(pager, key)!;
    }
}

/// <summary>Keyset paging on a one-column key: <c>WHERE key &gt; @after ORDER BY key LIMIT @size</c>, the same query each page.</summary>
internal sealed class KeyPager<TEntity, TKey> : IPager<TEntity>
    where TEntity : class
{
    private readonly IProperty _key;
    private readonly ParameterExpression _entity = Expression.Parameter(typeof(TEntity), "e");
    private readonly MethodCallExpression _property;
    private readonly Expression<Func<TEntity, TKey>> _keyOf;

    /// <summary>How long a page waits for a row a writer holds before it is rolled back and read again.</summary>
    private const string LockTimeout = "10s";

    public KeyPager(IProperty key)
    {
        _key = key;
        _property = Expression.Call(typeof(EF), nameof(EF.Property), [typeof(TKey)], _entity, Expression.Constant(key.Name));
        _keyOf = Expression.Lambda<Func<TEntity, TKey>>(_property, _entity);
        try
        {
            _ = After(default!);
        }
        catch (InvalidOperationException)
        {
            throw new BackfillNotPossibleException(typeof(TEntity), $"its key {key.Name} is of type {typeof(TKey).Name}, which has no order the backfill can page by (use a number, a string or a Guid).");
        }
    }

    public async Task<(List<TEntity> Entities, string? End)> NextAsync(DbContext db, string? position, int size, CancellationToken cancellationToken)
    {
        if (db.Database.IsPostgres() && db.Database.CurrentTransaction is not null && LockStatement(db, position, size) is { } statement)
        {
            // The page's rows are locked FOR SHARE, by key, before they are read: a writer that changes one waits until the page
            // commits, and one that changed it first has committed (or rolled back) before the read. (SQLite needs no lock: its
            // transaction is IMMEDIATE and holds every writer off until it ends.) The lock reads the table itself, without the
            // context's query filters: the page ends at its last locked key, whether or not the filters leave entities in it,
            // and the entities read are all those the filters let through up to that key (a row inserted in the range since
            // the lock among them).
            // A writer holding a row for long (a transaction left open) makes the page wait for the lock timeout, not the command
            // timeout, and then read the page again (RolledBackByTheDatabase); it also bounds the handlers' waits for locks.
            await db.Database.ExecuteSqlRawAsync($"SET LOCAL lock_timeout = '{LockTimeout}'", cancellationToken).ConfigureAwait(false);
            var keys = await db.Database.SqlQueryRaw<TKey>(statement.Sql, statement.Parameters).ToListAsync(cancellationToken).ConfigureAwait(false);
            if (keys.Count == 0)
            {
                return ([], null);
            }

            var last = keys[^1];
            var locked = await Query(db, position).Where(AtMost(last)).AsTracking().OrderBy(_keyOf).ToListAsync(cancellationToken).ConfigureAwait(false);
            return (locked, Position(db, last));
        }

        var entities = await Query(db, position).AsTracking().OrderBy(_keyOf).Take(size).ToListAsync(cancellationToken).ConfigureAwait(false);
        return (entities, entities.Count == 0 ? null : PositionOf(db, entities[^1]));
    }

    /// <summary>
    /// <c>SELECT key AS "Value" FROM table [WHERE key &gt; {0}] ORDER BY key LIMIT n FOR SHARE</c>, the page's keys in the
    /// entity type's own table; null where that cannot be written (a type mapped to a view, a query or no table of its own,
    /// a key with a value converter), and the page is then read without the lock, as before.
    /// </summary>
    private (string Sql, object[] Parameters)? LockStatement(DbContext db, string? position, int size)
    {
        // Only a type whose rows all sit in its one table: not TPT or TPC hierarchies, whose rows span several.
        if (db.Model.FindEntityType(typeof(TEntity)) is not { } entity || entity.GetTableName() is not { } name
            || ((entity.BaseType is not null || entity.GetDerivedTypes().Any()) && entity.GetRootType().GetMappingStrategy() is not (null or RelationalAnnotationNames.TphMappingStrategy))
            || _key.GetTypeMapping().Converter is not null || _key.GetColumnName(StoreObjectIdentifier.Table(name, entity.GetSchema())) is not { } keyColumn)
        {
            return null;
        }

        var table = StoreObjectIdentifier.Table(name, entity.GetSchema());
        var sql = db.GetService<ISqlGenerationHelper>();
        var column = sql.DelimitIdentifier(keyColumn);
        var from = sql.DelimitIdentifier(table.Name, table.Schema);
        return position is null
            ? ($"SELECT {column} AS \"Value\" FROM {from} ORDER BY {column} LIMIT {size} FOR SHARE", [])
            : ($"SELECT {column} AS \"Value\" FROM {from} WHERE {column} > {{0}} ORDER BY {column} LIMIT {size} FOR SHARE", [JsonSerializer.Deserialize<TKey>(position)!]);
    }

    public async Task<long> CountAfterAsync(DbContext db, string? position, CancellationToken cancellationToken) =>
        await Query(db, position).LongCountAsync(cancellationToken).ConfigureAwait(false);

    private string PositionOf(DbContext db, TEntity entity) => Position(db, (TKey)db.Entry(entity).Property(_key.Name).CurrentValue!);

    /// <summary>
    /// Positions are written with every character as it is, not as a <c>\uXXXX</c> escape: a key in any script takes as many
    /// of the checkpoint's characters as it has. One longer than the checkpoint's column holds (as the model gives its
    /// length, on a database that holds a column to it: not SQLite) is refused before its page commits.
    /// </summary>
    private static readonly JsonSerializerOptions PositionJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <exception cref="BackfillNotPossibleException">The key is longer, as JSON, than the checkpoint's column holds.</exception>
    private static string Position(DbContext db, TKey key)
    {
        var position = JsonSerializer.Serialize(key, PositionJson);
        if (!db.Database.IsSqlite()
            && db.Model.FindEntityType(typeof(EventSourceCheckpoint))?.FindProperty(nameof(EventSourceCheckpoint.Position))?.GetMaxLength() is { } longest
            && position.EnumerateRunes().Count() is var characters && characters > longest)
        {
            throw new BackfillNotPossibleException(typeof(TEntity),
                $"the key {position[..Math.Min(position.Length, 40)]}... is {characters} characters as JSON, and the checkpoint's position column holds at most {longest}.");
        }

        return position;
    }

    private IQueryable<TEntity> Query(DbContext db, string? position)
    {
        if (position is null)
        {
            return db.Set<TEntity>();
        }

        return db.Set<TEntity>().Where(After(JsonSerializer.Deserialize<TKey>(position)!));
    }

    /// <summary><c>e =&gt; key(e) &lt;= last</c>.</summary>
    private Expression<Func<TEntity, bool>> AtMost(TKey last) => Compared(ExpressionType.LessThanOrEqual, last);

    /// <summary><c>e =&gt; key(e) &gt; after</c>.</summary>
    private Expression<Func<TEntity, bool>> After(TKey after) => Compared(ExpressionType.GreaterThan, after);

    /// <summary>
    /// <c>e =&gt; key(e) op value</c> (<c>string.Compare(key(e), value) op 0</c> for a string key), with <paramref name="value"/>
    /// captured by a closure, so EF sends it as a parameter.
    /// </summary>
    private Expression<Func<TEntity, bool>> Compared(ExpressionType comparison, TKey value)
    {
        Expression<Func<TKey>> captured = () => value;
        var compared = typeof(TKey) == typeof(string)
            ? Expression.MakeBinary(comparison, Expression.Call(typeof(string), nameof(string.Compare), null, _property, captured.Body), Expression.Constant(0))
            : Expression.MakeBinary(comparison, _property, captured.Body);
        return Expression.Lambda<Func<TEntity, bool>>(compared, _entity);
    }
}
