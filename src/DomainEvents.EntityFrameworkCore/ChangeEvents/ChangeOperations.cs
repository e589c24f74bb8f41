namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>Which saves of an entity write a change event.</summary>
[Flags]
public enum ChangeOperations
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>An inserted entity: <c>….created</c>.</summary>
    Created = 1,

    /// <summary>An updated entity (or one whose owned data changed): <c>….updated</c>.</summary>
    Updated = 2,

    /// <summary>A deleted entity: <c>….deleted</c>, with the last known values.</summary>
    Deleted = 4,

    /// <summary>Every operation (the default).</summary>
    All = Created | Updated | Deleted,
}
