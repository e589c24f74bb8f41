using Microsoft.EntityFrameworkCore.ChangeTracking;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>A change seen when the save started, waiting for its row to be written before the commit.</summary>
internal sealed class CapturedChange
{
    public required EntityEntry Entry { get; init; }

    public required ChangeOperation Operation { get; init; }

    public required ChangeEventDestination Destination { get; init; }

    /// <summary>Gets the names of the changed selected fields, under the JSON naming policy.</summary>
    public required IReadOnlyList<string> Changed { get; init; }

    /// <summary>Gets the data once taken: when the save starts for a deletion, after the save's statements ran otherwise.</summary>
    public object? Data { get; init; }

    /// <summary>Gets whether <see cref="Data"/> was taken.</summary>
    public bool HasData { get; init; }

    /// <summary>Gets the key values, or <see langword="null"/> while the database has still to generate them.</summary>
    public object?[]? Key { get; init; }
}
