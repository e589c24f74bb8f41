namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// Wakes the relays of this process when rows were committed elsewhere: what a database's notification mechanism
/// (PostgreSQL's LISTEN/NOTIFY, or another provider's) calls. Registered by <c>AddEntityFrameworkOutbox</c>.
/// </summary>
public interface IOutboxWakeUp
{
    /// <summary>
    /// Gets this process's token. Put it in the notification a commit of this process sends (its rows go to the relay
    /// here directly) and pass the received payload to <see cref="WakeFromNotification"/>, which skips it.
    /// </summary>
    string ProcessToken { get; }

    /// <summary>Rows may wait in <paramref name="contextType"/>'s outbox that no relay of this process was handed: its relays claim soon.</summary>
    /// <param name="contextType">The DbContext whose outbox holds them.</param>
    void Wake(Type contextType);

    /// <summary>A notification arrived for <paramref name="contextType"/>'s outbox: wakes its relays unless the payload is <see cref="ProcessToken"/>.</summary>
    /// <param name="payload">The notification's payload, as the committing process sent it.</param>
    /// <param name="contextType">The DbContext whose outbox the notification is about.</param>
    void WakeFromNotification(string? payload, Type contextType);
}
