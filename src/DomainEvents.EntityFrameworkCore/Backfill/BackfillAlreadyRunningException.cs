using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.Backfill;

/// <summary>
/// Another run holds the backfill (its lease has not run out), or took it over while this run was under way. Nothing of
/// the refused run's page under way is committed; what it committed before stays, and the holder goes on from there.
/// </summary>
public sealed class BackfillAlreadyRunningException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="name">The backfill's name.</param>
    /// <param name="owner">The run that holds it, if known.</param>
    /// <param name="until">Until when (UTC) it holds it, if known.</param>
    public BackfillAlreadyRunningException(string name, string? owner, DateTime? until)
        : base($"The backfill '{name}' is held by another run ({owner ?? "unknown"}{(until is { } u ? $", until {u:O} unless it commits another page" : "")}). " +
               "Wait for it to finish; a run that crashed releases it when its lease runs out (BackfillOptions.LeaseDuration).")
    {
        Name = name;
        Owner = owner;
        Until = until;
    }

    /// <summary>Gets the backfill's name.</summary>
    public string Name { get; }

    /// <summary>Gets the run that holds it, if known.</summary>
    public string? Owner { get; }

    /// <summary>Gets until when (UTC) it holds it, if known.</summary>
    public DateTime? Until { get; }
}
