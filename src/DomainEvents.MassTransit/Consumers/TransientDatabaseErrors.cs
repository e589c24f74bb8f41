using System.Data.Common;
using Microsoft.EntityFrameworkCore.Storage;

namespace DomainEvents.MassTransit.Consumers;

/// <summary>Tells a database that is away for a while (restart, fail-over, dropped connection) from an error of the message.</summary>
internal static class TransientDatabaseErrors
{
    /// <summary>Whether the exception, or one it wraps, is a transient database error or the execution strategy giving up on one.</summary>
    public static bool IsTransient(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RetryLimitExceededException:
                case DbException { IsTransient: true }:
                case ReplicaConflictException:
                    return true;
            }
        }

        return false;
    }
}
