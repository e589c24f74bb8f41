using DomainEvents.EntityFrameworkCore.Outbox;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>
/// The change events of one DbContext between a save and the commit that makes them durable. A save's changes are
/// captured when it starts and written as rows just before the transaction that holds them commits:
/// <list type="bullet">
/// <item>the save's own transaction (EF Core's): when it commits, inside the save, with keys the database generated;</item>
/// <item>the caller's transaction: when the caller commits it, so an error writing them fails that commit, not a save
/// whose changes EF Core has already accepted;</item>
/// <item>a <c>TransactionScope</c>, a transaction the connection was enlisted in, or one given to EF Core with
/// <c>UseTransaction</c> (which may be committed past EF Core): when the save ends, since no commit of ours may follow.</item>
/// </list>
/// Transactions are told apart by EF Core's transaction id: a provider may reuse one transaction object per connection.
/// </summary>
internal sealed class PendingChangeEvents
{
    private List<CapturedChange>? _save;
    private Guid? _saveTransaction;
    private Guid? _writtenIn;
    private int _writtenBySave;
    private List<CapturedChange> _forCommit = [];
    private int _writtenForCommit;
    private bool _restoreBehavior;

    /// <summary>Gets whether rows are written in the transaction about to commit (so a NOTIFY should go with it).</summary>
    public bool HaveRowsInTransaction => _writtenBySave > 0 || _writtenForCommit > 0;

    /// <summary>The save starts: its changes are captured, and a save that would run without a transaction is made to run in one.</summary>
    /// <exception cref="ChangeEventsNeedATransactionException">The context may not open a transaction and none is open.</exception>
    public void Saving(DbContext context, ChangeEventWriter writer)
    {
        // What an earlier save left (one whose start threw in a later interceptor, so it never ended) is dropped.
        Finish(context);
        var captured = writer.Capture(context);
        if (captured.Count == 0)
        {
            return;
        }

        if (context.Database.CurrentTransaction is null && context.Database.SystemTransaction() is null)
        {
            switch (context.Database.AutoTransactionBehavior)
            {
                case AutoTransactionBehavior.Never:
                    throw new ChangeEventsNeedATransactionException(context.GetType(), captured.Count);
                case AutoTransactionBehavior.WhenNeeded:
                    _restoreBehavior = true;
                    context.Database.AutoTransactionBehavior = AutoTransactionBehavior.Always;
                    break;
            }
        }

        _save = captured;
    }

    /// <summary>A transaction started while the save was under way is the save's own.</summary>
    public void TransactionStarted(Guid transactionId, bool saving)
    {
        if (saving && _save is not null)
        {
            _saveTransaction = transactionId;
        }
    }

    /// <summary>The rows to write in the transaction about to commit, or <see langword="null"/> when there are none.</summary>
    public IReadOnlyList<CapturedChange>? Committing(Guid transactionId)
    {
        if (_save is not null && transactionId == _saveTransaction)
        {
            // A retried save commits a new transaction, and writes them again: the failed one took its rows with it.
            return _writtenIn == transactionId ? null : _save;
        }

        return _forCommit.Count > 0 && _writtenForCommit == 0 ? _forCommit : null;
    }

    /// <summary>The rows <see cref="Committing"/> returned are written.</summary>
    public void Written(Guid transactionId, int rows)
    {
        if (_save is not null && transactionId == _saveTransaction)
        {
            _writtenIn = transactionId;
            _writtenBySave = rows;
        }
        else
        {
            _writtenForCommit = rows;
        }
    }

    /// <summary>
    /// The save succeeded. Returns the rows its own transaction committed; changes saved in the caller's transaction wait
    /// for its commit; those in an ambient transaction are returned to be written now.
    /// </summary>
    /// <param name="context">The context.</param>
    /// <param name="writer">The writer of the change events.</param>
    /// <param name="commitSeen">Whether the save ran in a transaction of the caller's whose commit will be seen (not one given with <c>UseTransaction</c>, which may be committed past EF Core).</param>
    public (int Committed, IReadOnlyList<CapturedChange>? WriteNow) Saved(DbContext context, ChangeEventWriter writer, bool commitSeen)
    {
        var save = _save;
        var committed = _writtenIn is not null ? _writtenBySave : 0;
        IReadOnlyList<CapturedChange>? writeNow = null;
        if (save is not null && _writtenIn is null)
        {
            // Take keys and data now, while the entries are tracked: the generated values are in them, accepted or not.
            var resolved = writer.Resolve(save, forCommit: commitSeen);
            if (commitSeen)
            {
                _forCommit.AddRange(resolved);
            }
            else
            {
                writeNow = resolved;
            }
        }

        Finish(context);
        return (committed, writeNow);
    }

    /// <summary>The save failed: its rows, if written, were rolled back with its transaction.</summary>
    public void Failed(DbContext context) => Finish(context);

    /// <summary>Gets how many changes of saves in the caller's transaction wait for its commit.</summary>
    public int WaitingForCommit => _forCommit.Count;

    /// <summary>The caller's transaction was rolled back to a savepoint made when <paramref name="waiting"/> changes waited: those saved since go with it.</summary>
    public void RolledBackTo(int waiting)
    {
        if (waiting < _forCommit.Count)
        {
            _forCommit.RemoveRange(waiting, _forCommit.Count - waiting);
        }
    }

    /// <summary>The caller's transaction committed: returns how many rows it wrote at its commit.</summary>
    public int Committed()
    {
        var rows = _writtenForCommit;
        _forCommit = [];
        _writtenForCommit = 0;
        return rows;
    }

    /// <summary>The caller's transaction was rolled back, failed or abandoned: what waited for it goes with it.</summary>
    public void Forget()
    {
        _forCommit = [];
        _writtenForCommit = 0;
    }

    private void Finish(DbContext context)
    {
        if (_restoreBehavior)
        {
            context.Database.AutoTransactionBehavior = AutoTransactionBehavior.WhenNeeded;
        }

        Reset();
    }

    private void Reset()
    {
        _save = null;
        _saveTransaction = null;
        _writtenIn = null;
        _writtenBySave = 0;
        _restoreBehavior = false;
    }
}
