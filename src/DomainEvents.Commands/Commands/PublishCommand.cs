using System.CommandLine;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.Messaging;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Commands.Commands;

/// <summary><c>publish EXCHANGE ROUTING-KEY --type T --json '{...}'</c>: one row written through the outbox, for smoke tests and repairs.</summary>
internal static class PublishCommand
{
    public static Command Create(CommandContext context)
    {
        var exchange = new Argument<string>("EXCHANGE") { Description = "The exchange, such as order." };
        var routingKey = new Argument<string>("ROUTING-KEY") { Description = "The routing key, such as order.placed." };
        var type = new Option<string>("--type") { Description = "The message type, such as order.placed.", Required = true };
        var version = new Option<int>("--version") { Description = "The schema version.", DefaultValueFactory = _ => 1 };
        var key = new Option<string?>("--key") { Description = "The partition key (events of one key are published in order); default: one of its own." };
        var json = new Option<string?>("--json") { Description = "The payload, as JSON." };
        var file = new Option<FileInfo?>("--file") { Description = "A file holding the payload as JSON." };
        var command = new Command("publish", "Writes one event through the outbox; the relay publishes it. A registered message type is checked against its class.")
        {
            exchange, routingKey, type, version, key, json, file, Shared.Context,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            string text;
            try
            {
                text = result.GetValue(json) ?? (result.GetValue(file) is { } f ? await File.ReadAllTextAsync(f.FullName, cancellationToken).ConfigureAwait(false) : null)
                       ?? throw new ArgumentException("give the payload with --json or --file.");
            }
            catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
            {
                context.Error.WriteLine($"error: {ex.Message}");
                return ExitCodes.Usage;
            }

            var messageType = result.GetValue(type)!;
            var schemaVersion = result.GetValue(version);
            JsonElement payload;
            try
            {
                payload = JsonDocument.Parse(text).RootElement.Clone();
                var registry = context.Services.GetRequiredService<MessageTypeRegistry>();
                if (registry.TryResolve(messageType, schemaVersion, out var descriptor))
                {
                    // The consumers will read it as this class: refuse what they could not.
                    _ = payload.Deserialize(descriptor.ClrType, context.Services.GetRequiredService<DomainEventsOptions>().JsonSerializerOptions)
                        ?? throw new JsonException("the payload is null.");
                }
            }
            catch (JsonException ex)
            {
                context.Error.WriteLine($"error: the payload is not a valid {messageType} v{schemaVersion}: {ex.Message}");
                return ExitCodes.Usage;
            }

            if (context.Pick(context.OutboxContexts, result.GetValue(Shared.Context), "outbox") is not { } contextType)
            {
                return ExitCodes.Failed;
            }

            return await context.WithContextAsync(contextType, async (db, services) =>
            {
                var publisher = services.GetRequiredService(typeof(IOutboxPublisher<>).MakeGenericType(contextType));
                var publish = publisher.GetType().GetMethod("Publish", [typeof(string), typeof(string), typeof(object), typeof(string), typeof(int), typeof(string)])!;
                var partitionKey = result.GetValue(key) ?? $"manual/{Guid.CreateVersion7()}";
                Guid messageId;
                try
                {
                    messageId = (Guid)publish.Invoke(publisher, [result.GetValue(exchange)!, messageType, payload, partitionKey, schemaVersion, result.GetValue(routingKey)!])!;
                }
                catch (System.Reflection.TargetInvocationException ex) when (ex.InnerException is DomainEvents.Errors.DomainEventsException or ArgumentException)
                {
                    context.Error.WriteLine($"error: {ex.InnerException.Message}");
                    return ExitCodes.Usage;
                }

                await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
                context.WriteLine($"written to the outbox of {contextType.Name}: {messageType} v{schemaVersion}, message id {messageId}, partition key {partitionKey}");
                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });
        return command;
    }
}
