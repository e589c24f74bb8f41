namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>What a claim asks for.</summary>
/// <param name="Owner">The lease owner to write: the relay's instance name and the claim's number.</param>
/// <param name="OwnerPrefix">The prefix every lease owner of this relay starts with, to tell its own busy keys from other relays'.</param>
/// <param name="BatchSize">The most rows to lease.</param>
/// <param name="Now">The relay host's clock, for a database without a clock of its own (SQLite); others use theirs.</param>
/// <param name="Lease">How long the lease lasts.</param>
public sealed record OutboxClaimRequest(string Owner, string OwnerPrefix, int BatchSize, DateTime Now, TimeSpan Lease);
