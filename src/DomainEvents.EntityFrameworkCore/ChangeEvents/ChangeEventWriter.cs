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
/// Finds the changes of entity types that publish them when a save starts, and makes and inserts their outbox rows
/// before the transaction that holds them commits (see <see cref="PendingChangeEvents"/>). The rows are inserted with
/// one statement built from the model's own table, columns and type mappings, on the context's connection and
/// transaction, because the change tracker may be busy with the save itself.
/// </summary>
internal sealed class ChangeEventWriter
{
    /// <summary>Parameters per INSERT statement: below every provider's limit (SQL Server's 2,100 is the lowest).</summary>
    private const int ParametersPerStatement = 2000;

    private readonly OutboxMessageFactory _factory;
    private readonly JsonNamingPolicy? _naming;
    private readonly JsonSerializerOptions _json;

    public ChangeEventWriter(OutboxMessageFactory factory, DomainEventsOptions options)
    {
        _factory = factory;
        _json = options.JsonSerializerOptions;
        _naming = _json.PropertyNamingPolicy;
    }

    /// <summary>The changes this save will publish; empty (and cheap) for a model in which no entity type publishes them.</summary>
    /// <exception cref="OutboxNotMappedException">Entity types publish changes, but the context has no outbox table.</exception>
    public List<CapturedChange> Capture(DbContext context)
    {
        var captured = new List<CapturedChange>();
        if (!ChangeEventModel.Publishes(context.Model))
        {
            return captured;
        }

        OutboxNotMappedException.ThrowIfNotMapped(context);

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

                // A deletion's data is its last known values, taken now; the others' are taken after the statements ran,
                // so values the database generates (a key, a default, a row version) are in them.
                var deleted = operation == ChangeOperation.Deleted;
                captured.Add(new CapturedChange
                {
                    Entry = entry,
                    Operation = operation,
                    Destination = destination,
                    // Only selected fields are named: an event does not tell what it leaves out.
                    Changed = [.. changed.Where(n => destination.Fields is null || destination.Fields.Contains(n)).Select(Json)],
                    HasData = deleted,
                    Data = deleted ? destination.Data(entry, _naming) : null,
                    Key = KeyOf(entry),
                });
            }
        }

        return captured;
    }

    /// <summary>
    /// Takes keys and data as a save in the caller's transaction ends, for rows written later at the caller's commit: the
    /// entries may not stay tracked until then. A save that did not accept its changes (EF Core's retry pattern) leaves the
    /// values the database generated in the entries only, so the data is taken with them on the entity, and kept as JSON.
    /// </summary>
    /// <param name="captured">The changes the save captured.</param>
    /// <param name="forCommit">Whether the rows wait for the caller's commit, so that the data is kept as JSON now; rows written at once need not be.</param>
    public List<CapturedChange> Resolve(IReadOnlyList<CapturedChange> captured, bool forCommit) =>
        [.. captured.Select(c => new CapturedChange
        {
            Entry = c.Entry,
            Operation = c.Operation,
            Destination = c.Destination,
            Changed = c.Changed,
            HasData = true,
            Data = c.HasData ? c.Data : WithStoreValuesOnEntity(c.Entry, () => Snapshot(c.Destination.Data(c.Entry, _naming), forCommit)),
            Key = c.Key ?? KeyOf(c.Entry),
        })];

    /// <summary>
    /// The data as JSON as it is now, with the serializer options the row is written with: the data can hold the entity's
    /// owned objects, or the entity itself in a projection, by reference, and a later save of the transaction must not
    /// change what this one's event says. Data that cannot be serialized, whatever the error (a converter's, a getter's),
    /// is left as it is, so that the commit fails, as it does for the rows of a save's own transaction, and never the save.
    /// Data of rows written at once (<paramref name="forCommit"/> false) is left as it is too.
    /// </summary>
    private object? Snapshot(object? data, bool forCommit)
    {
        if (data is null || !forCommit)
        {
            return data;
        }

        try
        {
            return JsonSerializer.SerializeToElement(data, data.GetType(), _json);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return data;
        }
    }

    /// <summary>Makes the rows, now that the save's statements have run.</summary>
    /// <exception cref="EventSerializationException">The data cannot be serialized; the commit fails and nothing is committed.</exception>
    /// <exception cref="InvalidOutboxHeaderException">A header enricher set a bad header; the commit fails and nothing is committed.</exception>
    public List<OutboxMessage> Rows(IReadOnlyList<CapturedChange> captured, Guid? correlationId, IReadOnlyList<IOutboxHeaderEnricher> enrichers)
    {
        var rows = new List<OutboxMessage>(captured.Count);
        foreach (var change in captured)
        {
            var entry = change.Entry;
            var key = change.Key ?? KeyOf(entry) ?? throw new InvalidOperationException(
                $"The key of the new {entry.Metadata.ClrType.Name} is still not known after the insert ran; its change event cannot name it.");
            var entity = ChangeEventModel.EntityName(entry.Metadata);
            var partitionKey = $"{entity}/{string.Join(",", key.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)))}";
            var destination = change.Destination;
            OutboxMessage Row(object? data) => _factory.Create(
                destination.Exchange, destination.MessageType(change.Operation), destination.Version, destination.RoutingKey(change.Operation), partitionKey,
                new ChangeEventPayload(entity, KeyValue(entry, key), ChangeEventDestination.Name(change.Operation), change.Changed, data),
                correlationId, enrichers);

            var row = change.HasData ? Row(change.Data) : WithStoreValuesOnEntity(entry, () => Row(destination.Data(entry, _naming)));
            rows.Add(row);

            // The events of one save share a correlation id, as an aggregate's do.
            correlationId ??= row.MessageId;
        }

        return rows;
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

    /// <summary>
    /// Values the database generated (a key, a default) are in the entry but reach the entity object only when EF Core
    /// accepts the save, after the commit. A field selection or projection reads the object, so those values are put on
    /// its backing fields while the row is made (the data taken and serialized), and taken off again.
    /// </summary>
    private static T WithStoreValuesOnEntity<T>(EntityEntry entry, Func<T> make)
    {
        var entity = entry.Entity;
        var restore = new List<(System.Reflection.FieldInfo Field, object? Value)>();
        try
        {
            foreach (var property in entry.Properties)
            {
                if (property.Metadata.FieldInfo is not { } field)
                {
                    continue;
                }

                var onObject = field.GetValue(entity);
                var current = property.CurrentValue;
                if (!Equals(onObject, current))
                {
                    restore.Add((field, onObject));
                    field.SetValue(entity, current);
                }
            }

            return make();
        }
        finally
        {
            foreach (var (field, value) in restore)
            {
                field.SetValue(entity, value);
            }
        }
    }

    private static IEnumerable<(string Sql, DbParameter[] Parameters)> Statements(DbContext context, IReadOnlyList<OutboxMessage> rows)
    {
        var table = OutboxTable.Of(context);
        var sql = table.Sql;
        var columns = table.Columns;
        var rowsPerStatement = Math.Max(1, ParametersPerStatement / columns.Count);
        using var factory = context.Database.GetDbConnection().CreateCommand();
        for (var start = 0; start < rows.Count; start += rowsPerStatement)
        {
            var text = new StringBuilder(table.InsertInto);
            var parameters = new List<DbParameter>();
            for (var i = start; i < Math.Min(rows.Count, start + rowsPerStatement); i++)
            {
                text.Append(i == start ? "(" : ", (");
                for (var c = 0; c < columns.Count; c++)
                {
                    var name = string.Create(CultureInfo.InvariantCulture, $"de{i - start}_{c}");
                    text.Append(c == 0 ? "" : ", ").Append(sql.GenerateParameterNamePlaceholder(name));
                    var column = columns[c];
                    parameters.Add(column.GetRelationalTypeMapping().CreateParameter(factory, sql.GenerateParameterName(name), column.GetGetter().GetClrValue(rows[i]), column.IsNullable));
                }

                text.Append(')');
            }

            yield return (text.ToString(), [.. parameters]);
        }
    }

    /// <summary>The outbox table as the model maps it, worked out once per model.</summary>
    private sealed record OutboxTable(ISqlGenerationHelper Sql, string InsertInto, IReadOnlyList<IProperty> Columns)
    {
        public static OutboxTable Of(DbContext context)
        {
            var entityType = context.Model.FindEntityType(typeof(OutboxMessage))!;
            return entityType.GetOrAddRuntimeAnnotationValue(
                "DomainEvents:OutboxInsert",
                static arg =>
                {
                    var (type, helper) = arg;
                    var table = type.GetTableName()!;
                    var schema = type.GetSchema();
                    var store = StoreObjectIdentifier.Table(table, schema);
                    var columns = type.GetProperties().Where(p => p.ValueGenerated == ValueGenerated.Never).ToList();
                    var names = string.Join(", ", columns.Select(c => helper.DelimitIdentifier(c.GetColumnName(store)!)));
                    return new OutboxTable(helper, $"INSERT INTO {helper.DelimitIdentifier(table, schema)} ({names}) VALUES ", columns);
                },
                (entityType, context.GetService<ISqlGenerationHelper>()));
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
