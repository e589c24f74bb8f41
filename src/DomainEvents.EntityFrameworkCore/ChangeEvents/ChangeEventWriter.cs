using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Interception;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>
/// Finds the changes of entity types that publish them when a save starts, and writes their outbox rows inside the
/// save's transaction once the database has run its statements: keys it generates are known by then. The rows are
/// inserted with one statement built from the model's own table, columns and type mappings, on the save's connection
/// and transaction, because the change tracker is busy with the save itself.
/// </summary>
internal sealed class ChangeEventWriter
{
    /// <summary>Rows per INSERT statement: 13 parameters each stays far below every provider's parameter limit.</summary>
    private const int RowsPerStatement = 200;

    private static readonly ConcurrentDictionary<IModel, bool> ModelsWithChangeEvents = new();

    private readonly OutboxMessageFactory _factory;
    private readonly JsonNamingPolicy? _naming;

    public ChangeEventWriter(OutboxMessageFactory factory, DomainEventsOptions options)
    {
        _factory = factory;
        _naming = options.JsonSerializerOptions.PropertyNamingPolicy;
    }

    /// <summary>The changes this save will publish; empty (and cheap) for a model in which no entity type publishes them.</summary>
    public List<CapturedChange> Capture(DbContext context)
    {
        var captured = new List<CapturedChange>();
        var model = context.Model;
        if (!ModelsWithChangeEvents.GetOrAdd(model, static m => m.GetEntityTypes().Any(t => ChangeEventModel.Of(t).Length > 0)))
        {
            return captured;
        }

        foreach (var entry in context.ChangeTracker.Entries())
        {
            if (entry.Metadata.IsOwned())
            {
                continue;
            }

            var destinations = ChangeEventModel.Of(entry.Metadata);
            if (destinations.Length == 0)
            {
                continue;
            }

            var (operation, changed) = entry.State switch
            {
                EntityState.Added => (ChangeOperation.Created, AllNames(entry)),
                EntityState.Deleted => (ChangeOperation.Deleted, []),
                _ => (ChangeOperation.Updated, ChangedNames(entry)),
            };
            if (operation == ChangeOperation.Updated && changed.Count == 0)
            {
                continue;
            }

            foreach (var destination in destinations)
            {
                if (!destination.Publishes(operation, changed))
                {
                    continue;
                }

                if (context.Model.FindEntityType(typeof(OutboxMessage)) is null)
                {
                    throw new OutboxNotMappedException(context.GetType());
                }

                captured.Add(new CapturedChange
                {
                    Entry = entry,
                    Operation = operation,
                    Destination = destination,
                    // Only selected fields are named: an event does not tell what it leaves out.
                    Changed = [.. changed.Where(n => destination.Fields is null || destination.Fields.Contains(n)).Select(Json)],
                    HasData = operation != ChangeOperation.Created,
                    Data = operation != ChangeOperation.Created ? destination.Data(entry, _naming) : null,
                    Key = KeyOf(entry),
                });
            }
        }

        return captured;
    }

    /// <summary>Builds the rows, now that the save's statements have run.</summary>
    /// <exception cref="EventSerializationException">The data cannot be serialized; the save fails and nothing is committed.</exception>
    public List<OutboxMessage> Rows(IReadOnlyList<CapturedChange> captured, Guid? correlationId, IReadOnlyList<IOutboxHeaderEnricher> enrichers)
    {
        var rows = new List<OutboxMessage>(captured.Count);
        foreach (var change in captured)
        {
            var entry = change.Entry;
            var key = change.Key ?? KeyOf(entry) ?? throw new InvalidOperationException(
                $"The key of the new {entry.Metadata.ClrType.Name} is still not known after the insert ran; its change event cannot name it.");
            var entity = entry.Metadata.ClrType.Name;
            var partitionKey = $"{entity}/{string.Join(",", key.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)))}";
            var payload = new ChangeEventPayload(
                entity,
                KeyValue(entry, key),
                ChangeEventDestination.Name(change.Operation),
                change.Changed,
                change.HasData ? change.Data : DataAfterInsert(change));
            var destination = change.Destination;
            var row = _factory.Create(
                destination.Exchange, destination.MessageType(change.Operation), destination.Version, destination.RoutingKey(change.Operation),
                partitionKey, payload, correlationId, enrichers);
            rows.Add(row);

            // The events of one save share a correlation id, as an aggregate's do.
            correlationId ??= row.MessageId;
        }

        return rows;
    }

    /// <summary>
    /// The data of an inserted entity. Values the database generated (its key, defaults) are in the entry but reach the
    /// entity object only when EF Core accepts the save, after the commit: a field selection or projection reads the
    /// object, so those values are put on it while the data is taken, and taken off again.
    /// </summary>
    private object? DataAfterInsert(CapturedChange change)
    {
        var entry = change.Entry;
        var entity = entry.Entity;
        var restore = new List<(System.Reflection.FieldInfo? Field, System.Reflection.PropertyInfo? Property, object? Value)>();
        try
        {
            foreach (var property in entry.Properties)
            {
                var field = property.Metadata.FieldInfo;
                var clrProperty = field is null ? property.Metadata.PropertyInfo : null;
                if (field is null && clrProperty is not { CanRead: true, CanWrite: true })
                {
                    continue;
                }

                var onObject = field is not null ? field.GetValue(entity) : clrProperty!.GetValue(entity);
                var current = property.CurrentValue;
                if (!Equals(onObject, current))
                {
                    restore.Add((field, clrProperty, onObject));
                    if (field is not null)
                    {
                        field.SetValue(entity, current);
                    }
                    else
                    {
                        clrProperty!.SetValue(entity, current);
                    }
                }
            }

            return change.Destination.Data(entry, _naming);
        }
        finally
        {
            foreach (var (field, clrProperty, value) in restore)
            {
                if (field is not null)
                {
                    field.SetValue(entity, value);
                }
                else
                {
                    clrProperty!.SetValue(entity, value);
                }
            }
        }
    }

    public void Insert(DbContext context, IReadOnlyList<OutboxMessage> rows)
    {
        foreach (var (sql, parameters) in Statements(context, rows))
        {
            context.Database.ExecuteSqlRaw(sql, parameters);
        }
    }

    public async Task InsertAsync(DbContext context, IReadOnlyList<OutboxMessage> rows, CancellationToken cancellationToken)
    {
        foreach (var (sql, parameters) in Statements(context, rows))
        {
            await context.Database.ExecuteSqlRawAsync(sql, parameters, cancellationToken).ConfigureAwait(false);
        }
    }

    private static IEnumerable<(string Sql, DbParameter[] Parameters)> Statements(DbContext context, IReadOnlyList<OutboxMessage> rows)
    {
        var entityType = context.Model.FindEntityType(typeof(OutboxMessage))!;
        var table = entityType.GetTableName()!;
        var schema = entityType.GetSchema();
        var store = StoreObjectIdentifier.Table(table, schema);
        var sql = context.GetService<ISqlGenerationHelper>();
        var columns = entityType.GetProperties().Where(p => p.ValueGenerated == Microsoft.EntityFrameworkCore.Metadata.ValueGenerated.Never).ToList();
        using var factory = context.Database.GetDbConnection().CreateCommand();
        for (var start = 0; start < rows.Count; start += RowsPerStatement)
        {
            var text = new StringBuilder("INSERT INTO ").Append(sql.DelimitIdentifier(table, schema)).Append(" (");
            text.AppendJoin(", ", columns.Select(c => sql.DelimitIdentifier(c.GetColumnName(store)!))).Append(") VALUES ");
            var parameters = new List<DbParameter>();
            for (var i = start; i < Math.Min(rows.Count, start + RowsPerStatement); i++)
            {
                text.Append(i == start ? "(" : ", (");
                for (var c = 0; c < columns.Count; c++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"de{i}_{c}");
                    text.Append(c == 0 ? "" : ", ").Append(sql.GenerateParameterNamePlaceholder(name));
                    var column = columns[c];
                    parameters.Add(column.GetRelationalTypeMapping().CreateParameter(factory, sql.GenerateParameterName(name), column.GetGetter().GetClrValue(rows[i]), column.IsNullable));
                }

                text.Append(')');
            }

            yield return (text.ToString(), [.. parameters]);
        }
    }

    private string Json(string name) => _naming?.ConvertName(name) ?? name;

    private static List<string> AllNames(EntityEntry entry) =>
        [.. entry.Properties.Select(p => p.Metadata.Name), .. OwnedNavigations(entry).Select(n => n.Metadata.Name)];

    /// <summary>The modified properties, and the owned navigations whose data was added, changed or removed.</summary>
    private static List<string> ChangedNames(EntityEntry entry)
    {
        var names = entry.State == EntityState.Modified ? entry.Properties.Where(p => p.IsModified).Select(p => p.Metadata.Name).ToList() : [];
        foreach (var navigation in OwnedNavigations(entry))
        {
            if (OwnedChanged(navigation))
            {
                names.Add(navigation.Metadata.Name);
            }
        }

        return names;
    }

    private static IEnumerable<NavigationEntry> OwnedNavigations(EntityEntry entry) =>
        entry.Navigations.Where(n => n.Metadata.TargetEntityType.IsOwned() && n.Metadata is INavigation { IsOnDependent: false });

    private static bool OwnedChanged(NavigationEntry navigation)
    {
        if (navigation.IsModified)
        {
            return true;
        }

        switch (navigation)
        {
            case ReferenceEntry reference:
                return reference.TargetEntry is { } owned
                       && (owned.State is EntityState.Added or EntityState.Modified or EntityState.Deleted || ChangedNames(owned).Count > 0);
            case CollectionEntry collection when collection.CurrentValue is { } items:
                foreach (var item in items)
                {
                    if (collection.FindEntry(item) is { State: EntityState.Added or EntityState.Modified or EntityState.Deleted })
                    {
                        return true;
                    }
                }

                return false;
            default:
                return false;
        }
    }

    private static object?[]? KeyOf(EntityEntry entry)
    {
        var key = entry.Metadata.FindPrimaryKey();
        if (key is null)
        {
            return null;
        }

        var values = new object?[key.Properties.Count];
        for (var i = 0; i < values.Length; i++)
        {
            var property = entry.Property(key.Properties[i].Name);
            if (property.IsTemporary)
            {
                return null;
            }

            values[i] = property.CurrentValue;
        }

        return values;
    }

    /// <summary>A single key's value, or an object of values by the JSON names of a composite key's properties.</summary>
    private object? KeyValue(EntityEntry entry, object?[] key)
    {
        var properties = entry.Metadata.FindPrimaryKey()!.Properties;
        if (properties.Count == 1)
        {
            return key[0];
        }

        var composite = new Dictionary<string, object?>(StringComparer.Ordinal);
        for (var i = 0; i < properties.Count; i++)
        {
            composite[Json(properties[i].Name)] = key[i];
        }

        return composite;
    }
}
