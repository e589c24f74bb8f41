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

/// <summary>An entity keyed by a text of its own, whose events come from an event source.</summary>
public sealed class Coupon
{
    public string Code { get; set; } = "";
}
