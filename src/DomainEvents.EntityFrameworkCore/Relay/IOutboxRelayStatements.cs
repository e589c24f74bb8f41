using System.Data.Common;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>
/// The relay's statements on one outbox table of one database. PostgreSQL and SQLite are built in; a provider for another
/// database implements this and hands it out through <see cref="IOutboxRelayDatabase"/>. Each relay (and each clean-up)
/// gets its own instance, which may keep state from one claim to the next. Every statement runs on the context's own
/// connection, opened, outside any transaction of the caller's; a statement that needs one (a claim that takes a
/// lock) makes it itself, and ends it. Each statement gets a connection of its own unless
/// <see cref="ConnectionsCanBeKept"/> says the relay may keep one open from a statement to the next. The rules every implementation keeps, so that per-key order and the leases hold
/// (docs/adr/0002-relay-ordering-and-leases.md):
/// <list type="bullet">
/// <item>a row is pending (status 0), processed (1) or dead (2); a lease is <c>lease_owner</c> and <c>lease_expires_at</c>, live while it has not expired;</item>
/// <item>a claim takes from a key only when none of the key's pending rows holds a live lease, and only when the key's
/// head (its lowest pending id) is due (never attempted, or <c>next_attempt_at</c> reached); from such a key it leases
/// a run of its pending rows that starts at the head and skips none; it never takes a row leased or finished
/// meanwhile; claims on one table take turns, across processes where several relays share it;</item>
/// <item>leases and <c>next_attempt_at</c> are set and compared on one clock (the database's, or the request's
/// <c>Now</c> where the database has none), and a lease lasts at least the request's <c>Lease</c> from the relay's start of the claim;</item>
/// <item>a mark, a release or a failed attempt changes a row only where <c>lease_owner</c> is the given owner, whether or
/// not the lease has expired (a send confirmed late is still recorded);</item>
/// <item>returned rows carry their current <c>attempts</c>; the relay counts the next attempt from it.</item>
/// </list>
/// The claims of one instance never overlap; its marks, releases and failed attempts may run at the same time as each
/// other and as a claim.
/// </summary>
public interface IOutboxRelayStatements
{
    /// <summary>
    /// Whether the relay may keep a connection open from one of these statements to the next, of any kind (a mark of one
    /// batch may follow a claim of another on the same connection), instead of opening one for each: true only when no
    /// statement leaves anything behind on its connection (an open transaction, a session lock, a session setting, a temporary
    /// table) and none relies on a new session. A statement that throws has its connection closed either way. False by
    /// default; the built-in PostgreSQL and SQLite statements say true, which spares each statement a new context and the
    /// connection pool's reset of the connection.
    /// </summary>
    bool ConnectionsCanBeKept => false;

    /// <summary>Leases up to <see cref="OutboxClaimRequest.BatchSize"/> rows to the request's owner.</summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="request">The owner, the batch size, the relay host's clock and the lease.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>The leased rows (in any order: the relay puts them in id order), and what the claim saw.</returns>
    Task<OutboxClaim> ClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Whether a claim now could find anything: asked, instead of a claim, when only the relay's polling interval calls for
    /// one and no rows that commits handed over wait for their lease. It returns <see langword="false"/> only when a claim
    /// would lease nothing and find no row behind a key this relay is sending; <see langword="true"/> whenever in doubt. It
    /// takes no lease and need not take the claims' turn, so it should cost far less than a claim. The default says
    /// <see langword="true"/>: a provider that does not implement it claims at every poll.
    /// </summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="request">What the claim would ask for (the batch size bounds what is read).</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>Whether to claim.</returns>
    Task<bool> MayClaimAsync(DbConnection connection, OutboxClaimRequest request, CancellationToken cancellationToken) => Task.FromResult(true);

    /// <summary>
    /// Leases those of <paramref name="rows"/> (committed by this process, never attempted, matched by id and message id)
    /// that a claim would take now; the others are left for a claim.
    /// </summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="request">The owner, the relay host's clock and the lease (the batch size is not used).</param>
    /// <param name="rows">The rows the commit wrote.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>The id and message id of each row leased.</returns>
    Task<IReadOnlyCollection<(long Id, Guid MessageId)>> ClaimCommittedAsync(DbConnection connection, OutboxClaimRequest request, IReadOnlyList<OutboxEnvelope> rows, CancellationToken cancellationToken);

    /// <summary>Marks rows processed (status 1, <c>processed_at</c> now) and ends their lease, where <paramref name="owner"/> holds it.</summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="owner">The lease owner.</param>
    /// <param name="ids">The rows' ids; never empty.</param>
    /// <param name="now">The relay host's clock, for a database without one of its own.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>How many rows changed.</returns>
    Task<int> MarkProcessedAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, DateTime now, CancellationToken cancellationToken);

    /// <summary>Records a failed attempt: attempts, status, the next attempt's time and the error; ends the lease, where the attempt's owner holds it.</summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="attempt">The row, its owner and the outcome.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>How many rows changed (0 when the lease was lost).</returns>
    Task<int> MarkFailedAsync(DbConnection connection, OutboxFailedAttempt attempt, CancellationToken cancellationToken);

    /// <summary>Ends the lease of rows not sent, where <paramref name="owner"/> holds it; nothing else changes.</summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="owner">The lease owner.</param>
    /// <param name="ids">The rows' ids; never empty.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>How many rows changed.</returns>
    Task<int> ReleaseAsync(DbConnection connection, string owner, IReadOnlyCollection<long> ids, CancellationToken cancellationToken);

    /// <summary>Deletes up to <paramref name="batchSize"/> processed rows processed before <paramref name="cutoff"/>, oldest first; one relay at a time where several share the table.</summary>
    /// <param name="connection">The context's connection, open.</param>
    /// <param name="cutoff">Rows processed before this time go.</param>
    /// <param name="batchSize">The most rows one statement deletes.</param>
    /// <param name="cancellationToken">Cancels the statement.</param>
    /// <returns>How many rows were deleted.</returns>
    Task<int> DeleteProcessedAsync(DbConnection connection, DateTime cutoff, int batchSize, CancellationToken cancellationToken);
}
