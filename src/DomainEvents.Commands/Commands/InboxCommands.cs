using System.CommandLine;
using DomainEvents.EntityFrameworkCore.Inbox;
using Microsoft.EntityFrameworkCore;
using Spectre.Console;

namespace DomainEvents.Commands.Commands;

/// <summary><c>inbox stats | purge</c>.</summary>
internal static class InboxCommands
{
    public static Command Create(CommandContext context)
    {
        var inbox = new Command("inbox", "Look at the inbox and trim it.");
        var stats = new Command("stats", "Messages recorded per consumer, with the oldest and newest.") { Shared.Context, Shared.Json };
        stats.SetAction((result, cancellationToken) => OnInbox(context, result, async db =>
        {
            var consumers = await db.Set<InboxMessage>().AsNoTracking()
                .GroupBy(m => m.Consumer)
                .Select(g => new ConsumerCount(g.Key, g.Count(), g.Min(m => m.ProcessedAt), g.Max(m => m.ProcessedAt)))
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            consumers = [.. consumers.OrderBy(c => c.Consumer, StringComparer.Ordinal)];
            if (result.GetValue(Shared.Json))
            {
                Shared.WriteJson(context, new { Context = db.GetType().Name, Consumers = consumers });
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("consumer", "messages", "oldest (UTC)", "newest (UTC)");
            foreach (var c in consumers)
            {
                table.AddRow(Markup.Escape(c.Consumer), c.Messages.ToString(), c.Oldest.ToString("u"), c.Newest.ToString("u"));
            }

            context.WriteLine($"{db.GetType().Name}: {consumers.Sum(c => c.Messages)} message(s) recorded");
            context.Console.Write(table);
            return ExitCodes.Ok;
        }));
        inbox.Subcommands.Add(stats);

        var before = DateOptions.Required("--before", "Delete records of messages processed before this time.");
        var purge = new Command("purge", "Deletes old inbox records; keep them longer than a message can be redelivered.") { before, Shared.Yes, Shared.Context };
        purge.SetAction((result, cancellationToken) => OnInbox(context, result, async db =>
        {
            var utc = result.GetValue(before);
            if (utc > DateTime.UtcNow)
            {
                // Records of messages handled up to now are what turns a redelivered copy into a skipped duplicate.
                context.Error.WriteLine($"error: --before {utc:u} is in the future: the records of messages handled until now would go, and a copy of one delivered again would run its consumer again.");
                return ExitCodes.Usage;
            }

            var old = db.Set<InboxMessage>().Where(m => m.ProcessedAt < utc);
            var count = await old.CountAsync(cancellationToken).ConfigureAwait(false);
            if (count > 0 && !await Shared.ConfirmAsync(context, result, $"Delete {count} inbox record(s) of {db.GetType().Name} older than {utc:u}?", cancellationToken).ConfigureAwait(false))
            {
                return ExitCodes.Usage;
            }

            var deleted = count == 0 ? 0 : await Shared.DeleteInBatchesAsync(old.OrderBy(m => m.ProcessedAt), cancellationToken).ConfigureAwait(false);
            context.WriteLine($"{deleted} inbox record(s) deleted.");
            return ExitCodes.Ok;
        }));
        inbox.Subcommands.Add(purge);
        return inbox;
    }

    private static Task<int> OnInbox(CommandContext context, ParseResult result, Func<DbContext, Task<int>> work) =>
        context.Pick(context.InboxContexts, result.GetValue(Shared.Context), "inbox") is { } type
            ? context.WithContextAsync(type, (db, _) => work(db))
            : Task.FromResult(ExitCodes.Failed);

    internal sealed record ConsumerCount(string Consumer, int Messages, DateTime Oldest, DateTime Newest);
}
