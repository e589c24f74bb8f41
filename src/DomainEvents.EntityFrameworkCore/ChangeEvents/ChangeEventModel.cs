using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using DomainEvents.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>
/// Where the change events of each entity type go: from <c>PublishChanges</c> in the model and
/// <see cref="PublishChangesAttribute"/> on the class (and on base classes, for derived entity types).
/// </summary>
internal static class ChangeEventModel
{
    /// <summary>
    /// The model annotation: a description of each destination, such as <c>polls question.* question.* v1 7 [Id,Text]</c>.
    /// EF Core writes annotations into the migrations snapshot, which holds text but no delegates, so the destinations
    /// themselves are kept in <see cref="Configured"/> under that description.
    /// </summary>
    public const string Annotation = "DomainEvents:PublishChanges";

    private const string DestinationsAnnotation = "DomainEvents:ChangeEventDestinations";
    private const string PublishesAnnotation = "DomainEvents:PublishesChanges";

    private static readonly ConcurrentDictionary<(Type Entity, string Description), ChangeEventDestination> Configured = new();

    /// <summary>Adds a destination to an entity type being built.</summary>
    public static void Add(Microsoft.EntityFrameworkCore.Metadata.IMutableEntityType entityType, ChangeEventDestination destination)
    {
        Configured[(entityType.ClrType, destination.Description)] = destination;
        var existing = entityType.FindAnnotation(Annotation)?.Value as string[] ?? [];
        entityType.SetAnnotation(Annotation, (string[])[.. existing.Where(d => d != destination.Description), destination.Description]);
    }

    /// <summary>Whether any entity type of the model publishes changes; worked out once per model.</summary>
    public static bool Publishes(IModel model) =>
        model.GetOrAddRuntimeAnnotationValue(PublishesAnnotation, static m => m!.GetEntityTypes().Any(t => Of(t).Length > 0), model);

    /// <summary>The destinations of an entity type and its base types, validated on first use; empty for most types.</summary>
    public static ChangeEventDestination[] Of(IEntityType entityType) =>
        entityType.GetOrAddRuntimeAnnotationValue(DestinationsAnnotation, static type => Resolve(type!), entityType);

    /// <summary>The name events give the entity: its root entity type's class name, so derived types share keys and order.</summary>
    public static string EntityName(IEntityType entityType) => entityType.GetRootType().ClrType.Name;

    public static ChangeEventDestination Destination(
        Type entityType, string? exchange, string? messageType, string? routingKey, int version, ChangeOperations operations, bool onAnyChange,
        IReadOnlySet<string>? fields, Func<EntityEntry, JsonNamingPolicy?, object?>? data, string projection)
    {
        var prefix = messageType ?? MessageNaming.FromTypeName(entityType.Name).MessageType;
        var destination = new ChangeEventDestination
        {
            Exchange = exchange ?? MessageNaming.ToKebabCase(entityType.Name),
            MessageTypePrefix = prefix,
            RoutingKeyPrefix = routingKey ?? prefix,
            Version = version,
            Operations = operations,
            OnAnyChange = onAnyChange,
            Fields = fields,
            Data = data ?? Everything,
            Description = "",
        };
        return destination with
        {
            Description = string.Create(CultureInfo.InvariantCulture,
                $"{destination.Exchange} {prefix}.* {destination.RoutingKeyPrefix}.* v{version} {operations}{(onAnyChange ? " any-change" : "")} {projection}"),
        };
    }

    private static ChangeEventDestination[] Resolve(IEntityType type)
    {
        var all = new List<ChangeEventDestination>();
        for (var current = type; current is not null; current = current.BaseType)
        {
            foreach (var description in current.FindAnnotation(Annotation)?.Value as string[] ?? [])
            {
                // A compiled model (dotnet ef dbcontext optimize) keeps the annotation but never runs OnModelCreating.
                all.Add(Configured.TryGetValue((current.ClrType, description), out var destination)
                    ? destination
                    : throw new InvalidOperationException(
                        $"The model says {current.ClrType.Name} publishes its changes ({description}), but PublishChanges did not run in this process " +
                        "(a compiled model?). Use [PublishChanges] on the class with a compiled model, or build the model at run time."));
            }

            foreach (var attribute in current.ClrType.GetCustomAttributes<PublishChangesAttribute>(inherit: false))
            {
                all.Add(FromAttribute(current, attribute));
            }
        }

        foreach (var destination in all)
        {
            destination.Validate();
        }

        return [.. all];
    }

    private static ChangeEventDestination FromAttribute(IEntityType type, PublishChangesAttribute attribute)
    {
        foreach (var name in attribute.Fields ?? [])
        {
            if (type.FindProperty(name) is null && type.FindNavigation(name) is null)
            {
                throw new InvalidOperationException($"[PublishChanges] on {type.ClrType.Name} selects '{name}', which is neither a property nor a navigation of the entity.");
            }
        }

        return Destination(
            type.ClrType, attribute.Exchange, attribute.MessageType, attribute.RoutingKey, attribute.Version == 0 ? 1 : attribute.Version, ChangeOperations.All,
            attribute.OnAnyChange,
            attribute.Fields is null ? null : new HashSet<string>(attribute.Fields, StringComparer.Ordinal),
            attribute.Fields is { } fields ? (entry, naming) => Named(entry, fields, naming) : null,
            attribute.Fields is { } named ? $"[{string.Join(",", named)}]" : "[*]");
    }

    /// <summary>Every mapped property and owned navigation, by its name under the JSON naming policy.</summary>
    private static Dictionary<string, object?> Everything(EntityEntry entry, JsonNamingPolicy? naming)
    {
        var data = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var property in entry.Properties)
        {
            data[naming?.ConvertName(property.Metadata.Name) ?? property.Metadata.Name] = property.CurrentValue;
        }

        foreach (var navigation in entry.Navigations)
        {
            if (navigation.Metadata.TargetEntityType.IsOwned())
            {
                data[naming?.ConvertName(navigation.Metadata.Name) ?? navigation.Metadata.Name] = navigation.CurrentValue;
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
            data[naming?.ConvertName(name) ?? name] = entry.Metadata.FindProperty(name) is not null ? entry.Property(name).CurrentValue : entry.Navigation(name).CurrentValue;
        }

        return data;
    }
}
