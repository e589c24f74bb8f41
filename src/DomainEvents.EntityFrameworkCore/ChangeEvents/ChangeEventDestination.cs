using System.Text.Json;
using DomainEvents.Messaging;
using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>One place the changes of an entity type go to, worked out and validated once from the model.</summary>
internal sealed record ChangeEventDestination
{
    /// <summary>Gets the text that names this destination in the model annotation (and the migrations snapshot).</summary>
    public required string Description { get; init; }

    public required string Exchange { get; init; }

    public required string MessageTypePrefix { get; init; }

    public required string RoutingKeyPrefix { get; init; }

    public required int Version { get; init; }

    public required ChangeOperations Operations { get; init; }

    /// <summary>Gets the selected property names, or <see langword="null"/> when a projection or every property is published.</summary>
    public IReadOnlySet<string>? Fields { get; init; }

    /// <summary>Gets whether an update is published when a property outside <see cref="Fields"/> changed.</summary>
    public bool OnAnyChange { get; init; }

    /// <summary>Gets the data of the event from the entity's entry: the selected fields or the projection, names under the JSON naming policy.</summary>
    public required Func<EntityEntry, JsonNamingPolicy?, object?> Data { get; init; }

    public string MessageType(ChangeOperation operation) => $"{MessageTypePrefix}.{Name(operation)}";

    public string RoutingKey(ChangeOperation operation) => $"{RoutingKeyPrefix}.{Name(operation)}";

    public bool Publishes(ChangeOperation operation, IReadOnlyCollection<string> changed) => operation switch
    {
        ChangeOperation.Created => Operations.HasFlag(ChangeOperations.Created),
        ChangeOperation.Deleted => Operations.HasFlag(ChangeOperations.Deleted),
        _ => Operations.HasFlag(ChangeOperations.Updated) && changed.Count > 0 && (OnAnyChange || Fields is null || changed.Any(Fields.Contains)),
    };

    public static string Name(ChangeOperation operation) => operation switch
    {
        ChangeOperation.Created => "created",
        ChangeOperation.Updated => "updated",
        _ => "deleted",
    };

    /// <summary>Checks the names once, when the model is first used, so a bad one fails the first save of the type and nothing else.</summary>
    public void Validate()
    {
        foreach (var operation in new[] { ChangeOperation.Created, ChangeOperation.Updated, ChangeOperation.Deleted })
        {
            var owner = RoutingOwner.Named(MessageType(operation));
            RoutingValidator.ValidateName(owner, "message type", MessageType(operation));
            RoutingValidator.ValidateExchange(owner, Exchange);
            RoutingValidator.ValidateRoutingKey(owner, RoutingKey(operation));
        }

        if (Version < 1)
        {
            throw RoutingOwner.Named(MessageType(ChangeOperation.Created)).Invalid("version", Version.ToString(System.Globalization.CultureInfo.InvariantCulture), "versions start at 1");
        }
    }
}

/// <summary>What happened to an entity in a save.</summary>
internal enum ChangeOperation
{
    Created,
    Updated,
    Deleted,
}
