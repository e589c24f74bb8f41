using DomainEvents.Errors;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>
/// A save that changes entities which publish change events runs with <c>AutoTransactionBehavior.Never</c> and no
/// transaction of the caller's: the rows could not commit together with the changes. Nothing is saved.
/// </summary>
public sealed class ChangeEventsNeedATransactionException : DomainEventsException
{
    /// <summary>Initializes the exception.</summary>
    /// <param name="contextType">The DbContext.</param>
    /// <param name="changes">How many change events were waiting.</param>
    public ChangeEventsNeedATransactionException(Type contextType, int changes)
        : base($"{changes} change event(s) of {contextType.Name} need the save to run in a transaction, but AutoTransactionBehavior is Never and no transaction is open. " +
               "Leave AutoTransactionBehavior at WhenNeeded or Always, or open a transaction (BeginTransactionAsync) around the save.")
    {
        ContextType = contextType;
        Changes = changes;
    }

    /// <summary>Gets the DbContext type.</summary>
    public Type ContextType { get; }

    /// <summary>Gets how many change events were waiting.</summary>
    public int Changes { get; }
}
