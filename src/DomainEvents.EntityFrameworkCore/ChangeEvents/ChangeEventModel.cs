using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using DomainEvents.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>Where the change events of each entity type go: from <c>PublishChanges</c> in the model and <see cref="PublishChangesAttribute"/> on the class.</summary>
internal static class ChangeEventModel
{
    public const string Annotation = "DomainEvents:ChangeEvents";

    private static readonly ConcurrentDictionary<IEntityType, ChangeEventDestination[]> Destinations = new();

    /// <summary>
    /// The destinations configured in models, by entity class. A model keeps only their number as an annotation: EF Core
    /// writes annotations into the migrations snapshot, which can hold numbers but not delegates.
    /// </summary>
    private static readonly ConcurrentDictionary<Type, ChangeEventDestination[]> Configured = new();

    /// <summary>Adds a destination to an entity type being built; the first one of a model build replaces those of an earlier build.</summary>
    public static void Add(Microsoft.EntityFrameworkCore.Metadata.IMutableEntityType entityType, ChangeEventDestination destination)
    {
        var count = entityType.FindAnnotation(Annotation)?.Value as int? ?? 0;
        Configured.AddOrUpdate(
            entityType.ClrType,
            _ => [destination],
            (_, existing) => count == 0 ? [destination] : [.. existing.Take(count), destination]);
        entityType.SetAnnotation(Annotation, count + 1);
    }

    /// <summary>The destinations of an entity type, validated on first use; empty for most types.</summary>
    public static ChangeEventDestination[] Of(IEntityType entityType) =>
        Destinations.GetOrAdd(entityType, static type =>
        {
            IEnumerable<ChangeEventDestination> fromModel = [];
            if (type.FindAnnotation(Annotation)?.Value is int count and > 0)
            {
                // A compiled model (dotnet ef dbcontext optimize) keeps the annotation but never runs OnModelCreating.
                fromModel = Configured.TryGetValue(type.ClrType, out var configured)
                    ? configured.Take(count)
                    : throw new InvalidOperationException(
                        $"The model says {type.ClrType.Name} publishes its changes, but PublishChanges did not run in this process (a compiled model?). " +
                        "Use [PublishChanges] on the class with a compiled model, or build the model at run time.");
            }

            var fromAttributes = type.ClrType.GetCustomAttributes<PublishChangesAttribute>(inherit: false)
                .Select(a => Destination(
                    type.ClrType, a.Exchange, a.MessageType, a.RoutingKey, a.Version == 0 ? 1 : a.Version, ChangeOperations.All, a.OnAnyChange,
                    a.Fields is null ? null : new HashSet<string>(a.Fields, StringComparer.Ordinal),
                    a.Fields is null ? null : (entry, naming) => Named(entry, a.Fields, naming)));
            ChangeEventDestination[] all = [.. fromModel, .. fromAttributes];
            foreach (var destination in all)
            {
                destination.Validate();
            }

            return all;
        });

    public static ChangeEventDestination Destination(
        Type entityType, string? exchange, string? messageType, string? routingKey, int version, ChangeOperations operations, bool onAnyChange,
        IReadOnlySet<string>? fields, Func<EntityEntry, JsonNamingPolicy?, object?>? data)
    {
        var prefix = messageType ?? MessageNaming.FromTypeName(entityType.Name).MessageType;
        return new ChangeEventDestination
        {
            Exchange = exchange ?? MessageNaming.ToKebabCase(entityType.Name),
            MessageTypePrefix = prefix,
            RoutingKeyPrefix = routingKey ?? prefix,
            Version = version,
            Operations = operations,
            OnAnyChange = onAnyChange,
            Fields = fields,
            Data = data ?? Everything,
        };
    }

    /// <summary>Every mapped property and owned navigation, by its name under the JSON naming policy.</summary>
    private static Dictionary<string, object?> Everything(EntityEntry entry, JsonNamingPolicy? naming)
    {
        var data = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in entry.Properties)
        {
            data[naming?.ConvertName(property.Metadata.Name) ?? property.Metadata.Name] = property.CurrentValue;
        }

        foreach (var reference in entry.References)
        {
            if (reference.Metadata.TargetEntityType.IsOwned())
            {
                data[naming?.ConvertName(reference.Metadata.Name) ?? reference.Metadata.Name] = reference.CurrentValue;
            }
        }

        foreach (var collection in entry.Collections)
        {
            if (collection.Metadata.TargetEntityType.IsOwned())
            {
                data[naming?.ConvertName(collection.Metadata.Name) ?? collection.Metadata.Name] = collection.CurrentValue;
            }
        }

        return data;
    }

    /// <summary>The named properties or navigations.</summary>
    private static Dictionary<string, object?> Named(EntityEntry entry, string[] names, JsonNamingPolicy? naming)
    {
        var data = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            object? value = entry.Metadata.FindProperty(name) is not null
                ? entry.Property(name).CurrentValue
                : entry.Metadata.FindNavigation(name) is not null
                    ? entry.Navigation(name).CurrentValue
                    : throw new InvalidOperationException($"[PublishChanges] on {entry.Metadata.ClrType.Name} selects '{name}', which is neither a property nor a navigation of the entity.");
            data[naming?.ConvertName(name) ?? name] = value;
        }

        return data;
    }
}
