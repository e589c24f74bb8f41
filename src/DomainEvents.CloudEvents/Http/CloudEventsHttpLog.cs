using Microsoft.Extensions.Logging;

namespace DomainEvents.CloudEvents.Http;

/// <summary>The HTTP relay transport's log messages; failures are logged by the relay itself.</summary>
internal static partial class CloudEventsHttpLog
{
    [LoggerMessage(101, LogLevel.Information, "Relaying outbox rows as CloudEvents to {SinkUrl} with source {Source}")]
    public static partial void Started(ILogger logger, string sinkUrl, Uri source);

    [LoggerMessage(102, LogLevel.Debug, "Delivered {MessageType} {MessageId} to {SinkUrl}: {StatusCode}")]
    public static partial void Delivered(ILogger logger, string messageType, Guid messageId, string sinkUrl, int statusCode);
}
