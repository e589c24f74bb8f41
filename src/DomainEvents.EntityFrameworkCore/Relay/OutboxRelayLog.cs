using Microsoft.Extensions.Logging;

namespace DomainEvents.EntityFrameworkCore.Relay;

/// <summary>The relay's log messages.</summary>
internal static partial class OutboxRelayLog
{
    [LoggerMessage(1, LogLevel.Information, "Outbox relay {RelayInstance} started")]
    public static partial void Started(ILogger logger, string relayInstance);

    [LoggerMessage(2, LogLevel.Information, "Outbox relay {RelayInstance} stopped")]
    public static partial void Stopped(ILogger logger, string relayInstance);

    [LoggerMessage(3, LogLevel.Warning, "Publishing {MessageType} {MessageId} to {Exchange} with {RoutingKey} failed (attempt {Attempts}); next attempt at {NextAttemptAt:o}")]
    public static partial void SendFailed(ILogger logger, Exception exception, string messageType, Guid messageId, string exchange, string routingKey, int attempts, DateTime nextAttemptAt);

    [LoggerMessage(4, LogLevel.Error, "{MessageType} {MessageId} is dead after {Attempts} attempts: {LastError}")]
    public static partial void Dead(ILogger logger, string messageType, Guid messageId, int attempts, string lastError);

    [LoggerMessage(14, LogLevel.Warning, "'{Exchange}' with '{RoutingKey}' takes nothing now; the row keeps its lease until {LeaseEnd:O}, no attempt is counted")]
    public static partial void DestinationBusy(ILogger logger, Exception exception, string exchange, string routingKey, DateTime leaseEnd);

    [LoggerMessage(5, LogLevel.Warning, "The transport is unavailable; the relay pauses for {Pause}")]
    public static partial void TransportUnavailable(ILogger logger, Exception exception, TimeSpan pause);

    [LoggerMessage(6, LogLevel.Error, "The outbox relay loop failed; retrying in {Pause}")]
    public static partial void LoopFailed(ILogger logger, Exception exception, TimeSpan pause);

    [LoggerMessage(7, LogLevel.Debug, "Deleted {Count} processed outbox rows older than {Cutoff:o}")]
    public static partial void CleanedUp(ILogger logger, int count, DateTime cutoff);

    [LoggerMessage(8, LogLevel.Warning, "Recording a batch's outcome failed (attempt {Attempt}); retrying within the lease")]
    public static partial void BookkeepingFailed(ILogger logger, Exception exception, int attempt);

    [LoggerMessage(9, LogLevel.Warning, "Deleting processed outbox rows failed; trying again in {Interval}")]
    public static partial void CleanupFailed(ILogger logger, Exception exception, TimeSpan interval);

    [LoggerMessage(10, LogLevel.Warning, "Outbox relay {RelayInstance} did not finish its claimed batches within the host's shutdown timeout; their leases expire by themselves (give the host at least LeaseDuration / 2 + SendTimeout to stop)")]
    public static partial void DrainCutShort(ILogger logger, string relayInstance);

    [LoggerMessage(11, LogLevel.Information, "{MessageType} {MessageId} was confirmed after its send timed out; marked processed")]
    public static partial void ConfirmedLate(ILogger logger, string messageType, Guid messageId);

    [LoggerMessage(12, LogLevel.Debug, "{MessageType} {MessageId}, whose send timed out, was not confirmed within its lease; it is sent again after the lease")]
    public static partial void NotConfirmedLate(ILogger logger, Exception exception, string messageType, Guid messageId);

    [LoggerMessage(13, LogLevel.Warning, "{MessageType} {MessageId} was confirmed after its send timed out, but marking it processed failed; it will be sent again after its lease")]
    public static partial void ConfirmedLateNotMarked(ILogger logger, Exception exception, string messageType, Guid messageId);

    [LoggerMessage(15, LogLevel.Warning, "Waking the relays of other processes failed; rows of this process's commits behind their keys wait for a poll")]
    public static partial void WakeUpFailed(ILogger logger, Exception error);
}
