using System.Data.Common;
using DomainEvents.EntityFrameworkCore.Relay;

namespace DomainEvents.EntityFrameworkCore.Outbox;

/// <summary>
/// A relay of this process that lets a commit lease the commit's own rows to it, in the round trip of the COMMIT, so that it
/// sends them as soon as the commit returns, with no lease statement of its own.
/// </summary>
internal interface ICommitLeaseTaker
{
    /// <summary>
    /// Room for <paramref name="count"/> rows written on <paramref name="connection"/>, or <see langword="null"/>: the relay
    /// is stopping or in an outage, has enough waiting, reads another database, or its statements cannot lease in a commit.
    /// </summary>
    CommitLease? Reserve(DbConnection connection, int count);

    /// <summary>The commit failed or its outcome is unknown: the room is given back. Rows it may have leased wait for their lease to run out.</summary>
    void Cancel(CommitLease lease);

    /// <summary>The commit succeeded: the relay sends the rows it leased (and gives back the rest of the room).</summary>
    void Take(CommitLease lease);
}

/// <summary>A commit's lease of its own rows for one relay of this process: reserved before the commit, then taken or cancelled once.</summary>
internal sealed class CommitLease(ICommitLeaseTaker taker, string owner, TimeSpan duration, int reserved, PostgresRelayStatements statements)
{
    private readonly HashSet<OutboxMessage> _held = new(ReferenceEqualityComparer.Instance);
    private int _ended;

    /// <summary>Gets the lease owner the rows are leased to.</summary>
    public string Owner { get; } = owner;

    /// <summary>Gets how long the lease lasts.</summary>
    public TimeSpan Duration { get; } = duration;

    /// <summary>Gets the number of rows the relay made room for.</summary>
    public int Reserved { get; } = reserved;

    /// <summary>Gets when (a <see cref="System.Diagnostics.Stopwatch"/> timestamp, before the statement) the lease started.</summary>
    public long StartedAt { get; private set; }

    /// <summary>Gets the rows leased, with their ids, once the statement has run.</summary>
    public List<(OutboxMessage Row, long Id)> Rows { get; } = [];

    /// <summary>Leases what it can of <paramref name="rows"/> and commits <paramref name="transaction"/> in one round trip.</summary>
    /// <param name="transaction">The transaction that wrote the rows, about to commit.</param>
    /// <param name="rows">The rows it may have written, with their ids (the entities get theirs only after the commit).</param>
    /// <param name="cancellationToken">The commit's token.</param>
    public async Task LeaseAndCommitAsync(DbTransaction transaction, IReadOnlyList<(OutboxMessage Row, long Id)> rows, CancellationToken cancellationToken)
    {
        var ids = new long[rows.Count];
        var messageIds = new Guid[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            ids[i] = rows[i].Id;
            messageIds[i] = rows[i].Row.MessageId;
        }

        StartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        var leased = await statements.LeaseAndCommitAsync(transaction.Connection!, transaction, Owner, Duration, ids, messageIds, cancellationToken).ConfigureAwait(false);
        foreach (var (row, id) in rows)
        {
            if (leased.Remove((id, row.MessageId)) && _held.Add(row))
            {
                Rows.Add((row, id));
            }
        }
    }

    /// <summary>Whether <paramref name="row"/> is one of the leased rows.</summary>
    public bool Holds(OutboxMessage row) => _held.Contains(row);

    /// <summary>The commit succeeded: the relay takes the leased rows. Only the first of <see cref="Take"/> and <see cref="Cancel"/> counts.</summary>
    public void Take()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            taker.Take(this);
        }
    }

    /// <summary>The commit failed or was never sent: the room is given back. Only the first of <see cref="Take"/> and <see cref="Cancel"/> counts.</summary>
    public void Cancel()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            taker.Cancel(this);
        }
    }
}
