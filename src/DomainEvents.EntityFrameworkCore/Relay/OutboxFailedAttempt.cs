namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>A failed attempt to record.</summary>
/// <param name="Id">The row's id.</param>
/// <param name="Owner">The lease owner; the row changes only while this owner holds its lease.</param>
/// <param name="Attempts">The row's failed attempts, this one included.</param>
/// <param name="Dead">Whether the row is dead now (status 2) rather than pending for another attempt.</param>
/// <param name="Now">The relay host's clock, for a database without one of its own.</param>
/// <param name="Backoff">How long until the next attempt is due.</param>
/// <param name="Error">The error, at most 4000 characters.</param>
public sealed record OutboxFailedAttempt(long Id, string Owner, int Attempts, bool Dead, DateTime Now, TimeSpan Backoff, string Error);
