using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>A change seen when the save started, waiting for its row to be written once the database has run the save's statements.</summary>
internal sealed class CapturedChange
{
    public required EntityEntry Entry { get; init; }

    public required ChangeOperation Operation { get; init; }

    public required ChangeEventDestination Destination { get; init; }

    /// <summary>Gets the names of the changed properties, under the JSON naming policy.</summary>
    public required IReadOnlyList<string> Changed { get; init; }

    /// <summary>Gets the data, taken when the save started; <see langword="null"/> for an insert, whose data is taken after it ran.</summary>
    public object? Data { get; init; }

    /// <summary>Gets whether <see cref="Data"/> was taken.</summary>
    public bool HasData { get; init; }

    /// <summary>Gets the key values, or <see langword="null"/> while the database has still to generate them.</summary>
    public object?[]? Key { get; init; }
}
