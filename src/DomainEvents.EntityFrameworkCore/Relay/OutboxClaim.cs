namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>What a claim leased, and what it saw.</summary>
/// <param name="Rows">The leased rows, in any order (the relay sends each key's rows in id order).</param>
/// <param name="FoundBusyKeys">
/// Whether rows were left because their keys are being sent by this relay (a lease whose owner starts with the request's
/// prefix): the relay claims again when its batches free keys. Say <see langword="true"/> when the statements cannot tell.
/// </param>
/// <param name="MoreKeysToScan">
/// Whether keys past those the claim read are left: a bounded scan over keys stopped before the last key, or a full batch
/// was taken without the scan. A batch from such a claim is followed by another claim soon.
/// </param>
public sealed record OutboxClaim(IReadOnlyList<OutboxEnvelope> Rows, bool FoundBusyKeys, bool MoreKeysToScan);
