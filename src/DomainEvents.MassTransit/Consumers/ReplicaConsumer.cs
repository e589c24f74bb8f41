using System.Globalization;
using DomainEvents.EntityFrameworkCore.Replicas;
using global::MassTransit;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// Keeps a local copy of another service's entity: each message is applied to a <typeparamref name="TEntity"/> found by
/// key (created when there is none, updated, or deleted), unless a message of the same key with a later
/// position was applied already. Positions are kept per key in <see cref="ReplicaPosition"/> rows
/// (<c>modelBuilder.AddDomainEventsReplicas()</c>), which outlive a deleted entity: duplicated, reordered or republished
/// messages leave the copy equal to the source. Register it behind the inbox of <typeparamref name="TContext"/>
/// (<c>UseInbox&lt;TContext&gt;()</c>), which saves and commits; with <c>KeepOrder</c> (the default) an endpoint applies
/// one message at a time. Two copies applied at once on competing endpoints cannot both win: the position is a
/// concurrency token, and the loser fails with <see cref="ReplicaConflictException"/>, which the inbox runs again (see
/// <c>TransientDatabaseRetryIntervals</c>): it then reads the new position. A message before the applied position is
/// skipped; one at it is applied again, which changes nothing.
/// </summary>
/// <typeparam name="TContext">The DbContext that holds the copy and the positions.</typeparam>
/// <typeparam name="TEntity">The local entity.</typeparam>
/// <typeparam name="TMessage">The message, for change events the one record for <c>….created</c>, <c>….updated</c> and <c>….deleted</c> (see <c>Accept</c>).</typeparam>
public abstract class ReplicaConsumer<TContext, TEntity, TMessage> : IConsumer<TMessage>
    where TContext : DbContext
    where TEntity : class
    where TMessage : class
{
    /// <summary>Initializes the consumer.</summary>
    /// <param name="db">The context of the consumer's scope (the inbox's).</param>
    protected ReplicaConsumer(TContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        Db = db;
    }

    /// <summary>Gets the context of the consumer's scope.</summary>
    protected TContext Db { get; }

    /// <summary>Gets the name positions are kept under (default: the consumer's full type name).</summary>
    protected virtual string ReplicaName => GetType().FullName ?? GetType().Name;

    /// <summary>The primary key values of the entity a message is about, in the order of the entity's key.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The key values.</returns>
    protected abstract object[] KeyOf(TMessage message);

    /// <summary>A new entity from a message about a key that has none.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The entity to add.</returns>
    protected abstract TEntity Create(TMessage message);

    /// <summary>Updates an existing entity from a message.</summary>
    /// <param name="entity">The tracked entity.</param>
    /// <param name="message">The message.</param>
    protected abstract void Apply(TEntity entity, TMessage message);

    /// <summary>Whether a message deletes the entity (default: its message type ends with <c>.deleted</c>, as change events' do).</summary>
    /// <param name="message">The message.</param>
    /// <param name="envelope">Its envelope.</param>
    /// <returns><see langword="true"/> to delete.</returns>
    protected virtual bool IsDeletion(TMessage message, IntegrationEventEnvelope envelope) =>
        envelope.MessageType.EndsWith(".deleted", StringComparison.Ordinal);

    /// <summary>
    /// The message's position among the messages of its key; a message at or before the applied position is skipped.
    /// Default: the ticks of the envelope's occurred-at, the time its producer saved it, which rises per key as long as
    /// the producer saves one entity at a time on one clock (change events and aggregate events are written in the save's
    /// transaction). A producer that keeps a version number on the entity gives a stricter position: override this.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="envelope">Its envelope.</param>
    /// <returns>The position.</returns>
    protected virtual long PositionOf(TMessage message, IntegrationEventEnvelope envelope) =>
        envelope.OccurredAt?.Ticks ?? throw new InvalidOperationException(
            $"{envelope.MessageType} {envelope.MessageId} has no occurred-at to order it by; override {nameof(PositionOf)}.");

    /// <summary>Finds the local entity (default: by primary key).</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">A token to cancel the work.</param>
    /// <returns>The entity, or <see langword="null"/>.</returns>
    protected virtual ValueTask<TEntity?> FindAsync(TMessage message, CancellationToken cancellationToken) =>
        Db.Set<TEntity>().FindAsync(KeyOf(message), cancellationToken);

    /// <summary>Applies the message, or skips it as old.</summary>
    /// <param name="context">The consume context.</param>
    /// <returns>A task that completes when the change is saved (it commits with the inbox's transaction).</returns>
    public async Task Consume(ConsumeContext<TMessage> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        var envelope = context.GetIntegrationEventEnvelope();
        var key = string.Join(",", KeyOf(message).Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)));
        var position = PositionOf(message, envelope);
        var positions = Db.Set<ReplicaPosition>();
        var applied = await positions.FindAsync([ReplicaName, key], context.CancellationToken).ConfigureAwait(false);
        // Before the applied position: old. At it: the same state again (or one saved in the same microsecond), applied
        // again, which changes nothing a copy of state holds; but not a change after a deletion at that position (a version
        // that the deletion keeps, a coarse clock), which would bring the deleted entity back: the deletion wins.
        var deletion = IsDeletion(message, envelope);
        if (applied is not null && (applied.Position > position || (applied.Position == position && applied.Deleted && !deletion)))
        {
            ConsumerMetrics.Stale(envelope.MessageType, ReplicaName);
            return;
        }

        var entity = await FindAsync(message, context.CancellationToken).ConfigureAwait(false);
        if (deletion)
        {
            if (entity is not null)
            {
                Db.Remove(entity);
            }
        }
        else if (entity is null)
        {
            Db.Add(Create(message));
        }
        else
        {
            Apply(entity, message);
        }

        var now = DateTime.UtcNow;
        if (applied is null)
        {
            positions.Add(new ReplicaPosition { Replica = ReplicaName, Key = key, Position = position, Deleted = deletion, AppliedAt = now });
        }
        else
        {
            applied.Position = position;
            applied.Deleted = deletion;
            applied.AppliedAt = now;
        }

        try
        {
            await Db.SaveChangesAsync(context.CancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException ex) when (ex is DbUpdateConcurrencyException || !OtherThanAUniqueViolation(ex))
        {
            // Another copy of the key won (its insert, or its change of the position, the concurrency token). Any other
            // error of the save (a required value missing, a value too long) is the message's, and is thrown as it is.
            throw new ReplicaConflictException(ReplicaName, key, ex);
        }
    }

    /// <summary>
    /// Whether the save failed on something other than a unique key, as far as the database says: on PostgreSQL any
    /// SQLSTATE but 23505, on SQLite any error but a failed UNIQUE constraint. Other providers' errors are taken for a
    /// conflict, as they cannot be told apart here.
    /// </summary>
    private static bool OtherThanAUniqueViolation(DbUpdateException ex)
    {
        for (Exception? e = ex.InnerException; e is not null; e = e.InnerException)
        {
            if (e is System.Data.Common.DbException error)
            {
                return error.GetType().Name switch
                {
                    "SqliteException" => !error.Message.Contains("UNIQUE constraint failed", StringComparison.Ordinal),
                    "PostgresException" => error.SqlState != "23505",
                    _ => false,
                };
            }
        }

        return false;
    }
}
