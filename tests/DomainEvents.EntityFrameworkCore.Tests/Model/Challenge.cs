namespace DomainEvents.EntityFrameworkCore.Tests.Model;

/// <summary>A plain entity whose events come from an event source that looks at its state.</summary>
public sealed class Challenge
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public string Title { get; set; } = "";

    public DateTime EndsAt { get; set; }

    /// <summary>Archived challenges are left out of every query (the context's query filter).</summary>
    public bool Archived { get; set; }
}
