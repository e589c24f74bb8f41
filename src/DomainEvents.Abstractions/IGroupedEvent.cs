namespace DomainEvents;

/// <summary>
/// An event that names its group, to which handlers subscribe by pattern (<c>AddGroupHandler</c>). Without this interface an
/// event's group is its message type (<c>ChallengeEnded</c>: <c>challenge.ended</c>; an integration event's mapped name).
/// </summary>
public interface IGroupedEvent : IDomainEvent
{
    /// <summary>Gets the group: words of letters, digits, '-' or '_' separated by dots, such as <c>challenge.ended</c>.</summary>
    string EventGroup { get; }
}
