using DomainEvents.EntityFrameworkCore;
using DomainEvents.EntityFrameworkCore.Backfill;
using DomainEvents.EntityFrameworkCore.Inbox;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Replicas;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Adds the outbox and inbox tables to a model. Call it in <c>OnModelCreating</c>, then add a migration.</summary>
public static class DomainEventsModelBuilderExtensions
{
    /// <summary>Adds the outbox table and the inbox table to the model (a service that both publishes and consumes needs both).</summary>
    /// <param name="modelBuilder">The model builder.</param>
    /// <param name="configure">Changes the schema or table names.</param>
    /// <returns>The model builder, for chaining.</returns>
    public static ModelBuilder AddDomainEventsOutbox(this ModelBuilder modelBuilder, Action<OutboxModelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        var options = new OutboxModelOptions();
        configure?.Invoke(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.OutboxTable, nameof(OutboxModelOptions.OutboxTable));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InboxTable, nameof(OutboxModelOptions.InboxTable));

        modelBuilder.Entity<OutboxMessage>(b =>
        {
            b.ToTable(options.OutboxTable, options.Schema);
            b.HasKey(m => m.Id);
            b.Property(m => m.Id).HasColumnName("id").ValueGeneratedOnAdd();
            b.Property(m => m.MessageId).HasColumnName("message_id");
            b.Property(m => m.MessageType).HasColumnName("message_type").HasMaxLength(255).IsRequired();
            b.Property(m => m.Version).HasColumnName("version");
            b.Property(m => m.Exchange).HasColumnName("exchange").HasMaxLength(255).IsRequired();
            b.Property(m => m.RoutingKey).HasColumnName("routing_key").HasMaxLength(255).IsRequired();
            b.Property(m => m.PartitionKey).HasColumnName("partition_key").HasMaxLength(255).IsRequired();
            b.Property(m => m.Payload).HasColumnName("payload").IsRequired();
            b.Property(m => m.Headers).HasColumnName("headers").IsRequired();
            b.Property(m => m.OccurredAt).HasColumnName("occurred_at");
            b.Property(m => m.Status).HasColumnName("status");
            b.Property(m => m.Attempts).HasColumnName("attempts");
            b.Property(m => m.NextAttemptAt).HasColumnName("next_attempt_at");
            b.Property(m => m.LastError).HasColumnName("last_error").HasMaxLength(4000);
            b.Property(m => m.ProcessedAt).HasColumnName("processed_at");
            b.Property(m => m.LeaseOwner).HasColumnName("lease_owner").HasMaxLength(200);
            b.Property(m => m.LeaseExpiresAt).HasColumnName("lease_expires_at");

            // Each index here is paid by every insert or status change that matches its filter, so a pending row
            // is in three: the key and the two the relay's claim reads (rows in id order; each key's first pending row
            // and its followers). Message ids are UUIDv7 made by us, so nothing needs them unique.
            b.HasIndex(m => new { m.PartitionKey, m.Id }, $"ix_{options.OutboxTable}_pending_partition").HasFilter("status = 0");
            b.HasIndex(m => m.Id, $"ix_{options.OutboxTable}_pending_id").HasFilter("status = 0");
            // "Does any row of this key hold a lease?": only rows that are being sent are in it, a few hundred at most.
            b.HasIndex(m => m.PartitionKey, $"ix_{options.OutboxTable}_leased").HasFilter("status = 0 AND lease_owner IS NOT NULL");
            // Retention clean-up of processed rows, and the operator's view of dead ones.
            b.HasIndex(m => m.ProcessedAt, $"ix_{options.OutboxTable}_processed").HasFilter("status = 1");
            b.HasIndex(m => m.MessageType, $"ix_{options.OutboxTable}_dead").HasFilter("status = 2");
            b.HasIndex(m => m.MessageId, $"ix_{options.OutboxTable}_dead_message_id").HasFilter("status = 2");
        });

        MapInbox(modelBuilder, options);
        return modelBuilder;
    }

    /// <summary>Adds only the inbox table to the model, for a service that consumes integration events but publishes none.</summary>
    /// <param name="modelBuilder">The model builder.</param>
    /// <param name="configure">Changes the schema or table name.</param>
    /// <returns>The model builder, for chaining.</returns>
    public static ModelBuilder AddDomainEventsInbox(this ModelBuilder modelBuilder, Action<OutboxModelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        var options = new OutboxModelOptions();
        configure?.Invoke(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InboxTable, nameof(OutboxModelOptions.InboxTable));
        MapInbox(modelBuilder, options);
        return modelBuilder;
    }

    /// <summary>
    /// Adds the table in which replica consumers keep the position of the last message applied per key (see
    /// <c>ReplicaConsumer</c> in DomainEvents.MassTransit). Its position is a concurrency token: two copies applied at
    /// once cannot both win.
    /// </summary>
    /// <param name="modelBuilder">The model builder.</param>
    /// <param name="schema">The schema, or <see langword="null"/> for the model's default.</param>
    /// <param name="table">The table name (default <c>replica_positions</c>).</param>
    /// <returns>The model builder, for chaining.</returns>
    public static ModelBuilder AddDomainEventsReplicas(this ModelBuilder modelBuilder, string? schema = null, string table = "replica_positions")
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        modelBuilder.Entity<ReplicaPosition>(b =>
        {
            b.ToTable(table, schema);
            b.HasKey(p => new { p.Replica, p.Key });
            b.Property(p => p.Replica).HasColumnName("replica").HasMaxLength(255);
            b.Property(p => p.Key).HasColumnName("key").HasMaxLength(255);
            b.Property(p => p.Position).HasColumnName("position").IsConcurrencyToken();
            b.Property(p => p.Deleted).HasColumnName("deleted");
            b.Property(p => p.AppliedAt).HasColumnName("applied_at");
        });
        return modelBuilder;
    }

    /// <summary>
    /// Adds the ledger of keys this service has handled: keyed events (<c>IKeyedEvent</c>) are dispatched once ever per
    /// key, and once-per-key consumers (<c>OncePerKey</c>) handle a business key once. Also adds the checkpoints of
    /// backfills (<c>IEventSourceBackfill</c>).
    /// </summary>
    /// <param name="modelBuilder">The model builder.</param>
    /// <param name="schema">The schema, or <see langword="null"/> for the model's default.</param>
    /// <param name="table">The table name (default <c>handled_event_keys</c>).</param>
    /// <param name="checkpointTable">The table of backfill checkpoints (default <c>event_source_checkpoints</c>).</param>
    /// <returns>The model builder, for chaining.</returns>
    public static ModelBuilder AddDomainEventsKeyedEvents(
        this ModelBuilder modelBuilder, string? schema = null, string table = "handled_event_keys", string checkpointTable = "event_source_checkpoints")
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpointTable);
        modelBuilder.Entity<EventSourceCheckpoint>(b =>
        {
            b.ToTable(checkpointTable, schema);
            b.HasKey(c => c.Name);
            b.Property(c => c.Name).HasColumnName("name").HasMaxLength(200);
            b.Property(c => c.Position).HasColumnName("position").HasMaxLength(EventSourceCheckpoint.PositionMaxLength);
            b.Property(c => c.Owner).HasColumnName("owner").HasMaxLength(300).IsConcurrencyToken();
            b.Property(c => c.LeaseExpiresAt).HasColumnName("lease_expires_at").IsConcurrencyToken();
            b.Property(c => c.StartedAt).HasColumnName("started_at");
            b.Property(c => c.UpdatedAt).HasColumnName("updated_at");
            b.Property(c => c.CompletedAt).HasColumnName("completed_at");
            b.Property(c => c.EntitiesRead).HasColumnName("entities_read");
            b.Property(c => c.EventsProduced).HasColumnName("events_produced");
            b.Property(c => c.KeysSkipped).HasColumnName("keys_skipped");
        });
        modelBuilder.Entity<HandledEventKey>(b =>
        {
            b.ToTable(table, schema);
            b.HasKey(k => new { k.Key, k.Handler });
            b.Property(k => k.Key).HasColumnName("key").HasMaxLength(200);
            b.Property(k => k.Handler).HasColumnName("handler").HasMaxLength(255);
            b.Property(k => k.EventType).HasColumnName("event_type").HasMaxLength(255);
            b.Property(k => k.HandledAt).HasColumnName("handled_at");
        });
        return modelBuilder;
    }

    private static void MapInbox(ModelBuilder modelBuilder, OutboxModelOptions options) =>
        modelBuilder.Entity<InboxMessage>(b =>
        {
            b.ToTable(options.InboxTable, options.Schema);
            b.HasKey(m => new { m.MessageId, m.Consumer });
            b.Property(m => m.MessageId).HasColumnName("message_id");
            b.Property(m => m.Consumer).HasColumnName("consumer").HasMaxLength(255);
            b.Property(m => m.MessageType).HasColumnName("message_type").HasMaxLength(255);
            b.Property(m => m.ProcessedAt).HasColumnName("processed_at");
            b.HasIndex(m => m.ProcessedAt).HasDatabaseName($"ix_{options.InboxTable}_processed_at");
        });
}
