namespace DomainEvents.EntityFrameworkCore.Tests.Model;

/// <summary>A plain entity with a key the database generates, owned data and a field no event carries.</summary>
public sealed class Question
{
    public int Id { get; set; }

    public string Text { get; set; } = "";

    public string InternalNote { get; set; } = "";

    public Author Author { get; set; } = new();
}

public sealed class Author
{
    public string Name { get; set; } = "";
}

/// <summary>A composite key, published by attribute.</summary>
[PublishChanges("members", Fields = [nameof(Role)])]
public sealed class Membership
{
    public string TenantId { get; set; } = "";

    public int UserId { get; set; }

    public string Role { get; set; } = "";

    public DateTime LastSeen { get; set; }
}

/// <summary>A key held only by EF Core (a shadow property), every property published.</summary>
public sealed class Tag
{
    public string Name { get; set; } = "";
}
