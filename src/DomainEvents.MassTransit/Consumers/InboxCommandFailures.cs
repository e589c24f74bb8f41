using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>
/// The first command that failed in each transaction of an inbox's context. On PostgreSQL a failed statement aborts
/// the whole transaction unless it ran in a savepoint, and a COMMIT then rolls back without an error: a consumer that
/// catches such an error and returns would have its message acknowledged with nothing committed. The inbox asks here
/// before it commits; only then does it pay for a check.
/// </summary>
internal sealed class InboxCommandFailures : DbCommandInterceptor
{
    /// <summary>The one instance, added to every inbox context's options.</summary>
    public static readonly InboxCommandFailures Instance = new();

    private readonly ConditionalWeakTable<DbTransaction, Exception> _first = new();

    private InboxCommandFailures()
    {
    }

    /// <summary>The first error of a command in <paramref name="transaction"/> since <see cref="Forget"/>, if any.</summary>
    public Exception? FirstFailure(DbTransaction transaction) => _first.TryGetValue(transaction, out var error) ? error : null;

    /// <summary>Starts over for a new transaction (a provider may reuse its transaction objects).</summary>
    public void Forget(DbTransaction transaction) => _first.Remove(transaction);

    /// <inheritdoc />
    public override void CommandFailed(DbCommand command, CommandErrorEventData eventData) => Record(command, eventData.Exception);

    /// <inheritdoc />
    public override Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Record(command, eventData.Exception);
        return Task.CompletedTask;
    }

    private void Record(DbCommand command, Exception error)
    {
        if (command.Transaction is { } transaction)
        {
            _first.TryAdd(transaction, error);
        }
    }
}
