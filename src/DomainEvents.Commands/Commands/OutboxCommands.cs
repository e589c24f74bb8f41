using System.CommandLine;
using System.Text.Json;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.EntityFrameworkCore.Relay;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace DomainEvents.Commands.Commands;

/// <summary><c>outbox stats | list | show | retry | purge</c>.</summary>
internal static class OutboxCommands
{
    public static Command Create(CommandContext context)
    {
        var outbox = new Command("outbox", "Look at the outbox and repair it: counts, rows, retries of dead rows, purges.");
        outbox.Subcommands.Add(Stats(context));
        outbox.Subcommands.Add(List(context));
        outbox.Subcommands.Add(Show(context));
        outbox.Subcommands.Add(Retry(context));
        outbox.Subcommands.Add(Purge(context));
        return outbox;
    }

    private static Command Stats(CommandContext context)
    {
        var command = new Command("stats", "Pending, leased, dead and processed rows per exchange and message type, the oldest pending row's age, and dead rows by failure.");
        command.Options.Add(Shared.Context);
        command.Options.Add(Shared.Json);
        command.SetAction((result, cancellationToken) => OnOutbox(context, result, async (db, _) =>
        {
            var now = DateTime.UtcNow;
            var rows = db.Set<OutboxMessage>().AsNoTracking();
            var groups = await rows
                .GroupBy(m => new { m.Exchange, m.MessageType, m.Status })
                .Select(g => new { g.Key.Exchange, g.Key.MessageType, g.Key.Status, Count = g.Count() })
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            var pending = rows.Where(m => m.Status == OutboxMessageStatus.Pending);
            var leased = await pending.Where(m => m.LeaseOwner != null && m.LeaseExpiresAt >= now)
                .GroupBy(m => new { m.Exchange, m.MessageType }).Select(g => new { g.Key.Exchange, g.Key.MessageType, Count = g.Count() })
                .ToDictionaryAsync(g => (g.Exchange, g.MessageType), g => g.Count, cancellationToken).ConfigureAwait(false);

            // The oldest pending row of each destination: its lowest id (ids follow the commits).
            var heads = pending.GroupBy(m => new { m.Exchange, m.MessageType }).Select(g => g.Min(m => m.Id));
            var oldest = await pending.Where(m => heads.Contains(m.Id)).Select(m => new { m.Exchange, m.MessageType, m.OccurredAt })
                .ToDictionaryAsync(m => (m.Exchange, m.MessageType), m => AgeSeconds(now, m.OccurredAt), cancellationToken).ConfigureAwait(false);
            var failures = (await rows.Where(m => m.Status == OutboxMessageStatus.Dead).GroupBy(m => m.LastError).Select(g => new { g.Key, Count = g.Count() })
                    .ToListAsync(cancellationToken).ConfigureAwait(false))
                .GroupBy(f => FailureOf(f.Key))
                .Select(g => new FailureCount(g.Key, g.Sum(f => f.Count)))
                .OrderByDescending(f => f.Count)
                .ToList();
            var byDestination = groups
                .GroupBy(g => (g.Exchange, g.MessageType))
                .Select(g => new DestinationCount(
                    g.Key.Exchange,
                    g.Key.MessageType,
                    g.Where(x => x.Status == OutboxMessageStatus.Pending).Sum(x => x.Count),
                    leased.GetValueOrDefault(g.Key),
                    oldest.TryGetValue(g.Key, out var age) ? age : null,
                    g.Where(x => x.Status == OutboxMessageStatus.Dead).Sum(x => x.Count),
                    g.Where(x => x.Status == OutboxMessageStatus.Processed).Sum(x => x.Count)))
                .OrderBy(d => d.Exchange, StringComparer.Ordinal).ThenBy(d => d.MessageType, StringComparer.Ordinal)
                .ToList();
            var stats = new OutboxStats(
                db.GetType().Name,
                byDestination.Sum(d => d.Pending),
                byDestination.Sum(d => d.Leased),
                byDestination.Sum(d => d.Dead),
                byDestination.Sum(d => d.Processed),
                byDestination.Max(d => d.OldestPendingAgeSeconds),
                byDestination,
                failures);
            if (result.GetValue(Shared.Json))
            {
                Shared.WriteJson(context, stats);
                return ExitCodes.Ok;
            }

            context.WriteLine($"{stats.Context}: {stats.Pending} pending ({stats.Leased} being sent), {stats.Dead} dead, {stats.Processed} processed; " +
                                       $"oldest pending {(stats.OldestPendingAgeSeconds is { } age ? $"{age:0.0} s old" : "none")}");
            var table = new Table().AddColumns("exchange", "message type", "pending", "sending", "oldest", "dead", "processed");
            foreach (var d in byDestination)
            {
                table.AddRow(Markup.Escape(d.Exchange), Markup.Escape(d.MessageType), d.Pending.ToString(), d.Leased.ToString(),
                    d.OldestPendingAgeSeconds is { } seconds ? $"{seconds:0.0} s" : "-", d.Dead.ToString(), d.Processed.ToString());
            }

            context.Console.Write(table);
            if (failures.Count > 0)
            {
                var dead = new Table().AddColumns("dead rows", "failure");
                foreach (var f in failures)
                {
                    dead.AddRow(f.Count.ToString(), Markup.Escape(f.Failure));
                }

                context.Console.Write(dead);
            }

            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command List(CommandContext context)
    {
        var status = new Option<string>("--status") { Description = "pending, dead or processed.", DefaultValueFactory = _ => "pending" };
        status.AcceptOnlyFromAmong("pending", "dead", "processed");
        var type = new Option<string?>("--type") { Description = "Only rows of this message type." };
        var exchange = new Option<string?>("--exchange") { Description = "Only rows to this exchange." };
        var key = new Option<string?>("--key") { Description = "Only rows of this partition key." };
        var limit = new Option<int>("--limit") { Description = "At most this many rows, oldest first.", DefaultValueFactory = _ => 20 };
        var command = new Command("list", "Rows of one status, oldest first.") { status, type, exchange, key, limit, Shared.Context, Shared.Json };
        command.SetAction((result, cancellationToken) => OnOutbox(context, result, async (db, _) =>
        {
            var wanted = Enum.Parse<OutboxMessageStatus>(result.GetValue(status)!, ignoreCase: true);
            var query = db.Set<OutboxMessage>().AsNoTracking().Where(m => m.Status == wanted);
            if (result.GetValue(type) is { } t)
            {
                query = query.Where(m => m.MessageType == t);
            }

            if (result.GetValue(exchange) is { } e)
            {
                query = query.Where(m => m.Exchange == e);
            }

            if (result.GetValue(key) is { } k)
            {
                query = query.Where(m => m.PartitionKey == k);
            }

            var rows = await query.OrderBy(m => m.Id).Take(Math.Max(1, result.GetValue(limit))).Select(m => new OutboxRow(
                    m.Id, m.MessageId, m.MessageType, m.Version, m.Exchange, m.RoutingKey, m.PartitionKey, m.Status.ToString(), m.Attempts, m.OccurredAt, m.ProcessedAt, m.LastError))
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            if (result.GetValue(Shared.Json))
            {
                Shared.WriteJson(context, rows);
                return ExitCodes.Ok;
            }

            var table = new Table().AddColumns("id", "message id", "type", "exchange", "routing key", "key", "attempts", "occurred at (UTC)", "last error");
            foreach (var r in rows)
            {
                table.AddRow(r.Id.ToString(), r.MessageId.ToString(), Markup.Escape($"{r.MessageType} v{r.Version}"), Markup.Escape(r.Exchange), Markup.Escape(r.RoutingKey),
                    Markup.Escape(r.PartitionKey), r.Attempts.ToString(), r.OccurredAt.ToString("u"), Markup.Escape(Shorten(r.LastError)));
            }

            context.Console.Write(table);
            context.WriteLine($"{rows.Count} {result.GetValue(status)} row(s)");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Show(CommandContext context)
    {
        var id = new Argument<string>("ID") { Description = "The row's id, or its message id." };
        var command = new Command("show", "One row, with its payload and headers.") { id, Shared.Context, Shared.Json };
        command.SetAction((result, cancellationToken) => OnOutbox(context, result, async (db, _) =>
        {
            var text = result.GetValue(id)!;
            if (!long.TryParse(text, out long _) && !Guid.TryParse(text, out Guid _))
            {
                context.Error.WriteLine($"error: '{text}' is neither a row id nor a message id.");
                return ExitCodes.Usage;
            }

            var query = db.Set<OutboxMessage>().AsNoTracking();
            var row = long.TryParse(text, out var rowId) ? await query.SingleOrDefaultAsync(m => m.Id == rowId, cancellationToken).ConfigureAwait(false)
                : Guid.TryParse(text, out var messageId) ? await query.SingleOrDefaultAsync(m => m.MessageId == messageId, cancellationToken).ConfigureAwait(false)
                : null;
            if (row is null)
            {
                context.Error.WriteLine($"error: no outbox row with the id or message id '{text}'.");
                return ExitCodes.Failed;
            }

            if (result.GetValue(Shared.Json))
            {
                Shared.WriteJson(context, row);
                return ExitCodes.Ok;
            }

            var grid = new Grid().AddColumn().AddColumn();
            foreach (var (name, value) in new (string, object?)[]
                     {
                         ("id", row.Id), ("message id", row.MessageId), ("type", $"{row.MessageType} v{row.Version}"), ("exchange", row.Exchange),
                         ("routing key", row.RoutingKey), ("partition key", row.PartitionKey), ("status", row.Status), ("attempts", row.Attempts),
                         ("occurred at", row.OccurredAt.ToString("O")), ("next attempt at", row.NextAttemptAt.ToString("O")), ("processed at", row.ProcessedAt?.ToString("O")),
                         ("lease", row.LeaseOwner is null ? null : $"{row.LeaseOwner} until {row.LeaseExpiresAt:O}"), ("last error", row.LastError),
                         ("headers", row.Headers), ("payload", row.Payload),
                     })
            {
                grid.AddRow(new Text(name), new Text(value?.ToString() ?? "-"));
            }

            context.Console.Write(grid);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Retry(CommandContext context)
    {
        var ids = new Argument<string[]>("ID") { Description = "Dead rows to retry, by id or message id.", Arity = ArgumentArity.ZeroOrMore };
        var dead = new Option<bool>("--dead") { Description = "Retry every dead row (narrowed by --type and --error-contains)." };
        var type = new Option<string?>("--type") { Description = "Only dead rows of this message type." };
        var errorContains = new Option<string?>("--error-contains") { Description = "Only dead rows whose last error contains this text." };
        var command = new Command("retry", "Makes dead rows pending again, with their attempts reset; the relay sends them.") { ids, dead, type, errorContains, Shared.Yes, Shared.Context };
        command.SetAction((result, cancellationToken) => OnOutbox(context, result, async (db, services) =>
        {
            var named = result.GetValue(ids) ?? [];
            if (named.Length > 0 && (result.GetValue(dead) || result.GetValue(type) is not null || result.GetValue(errorContains) is not null))
            {
                context.Error.WriteLine("error: name the rows (IDs), or choose them with --dead (optionally with --type and --error-contains), not both.");
                return ExitCodes.Usage;
            }

            if (named.FirstOrDefault(i => !long.TryParse(i, out _) && !Guid.TryParse(i, out _)) is { } malformed)
            {
                context.Error.WriteLine($"error: '{malformed}' is neither a row id nor a message id.");
                return ExitCodes.Usage;
            }

            var chosen = await ChooseDeadAsync(db, named, result.GetValue(dead), result.GetValue(type), result.GetValue(errorContains), cancellationToken).ConfigureAwait(false);
            if (chosen is null)
            {
                context.Error.WriteLine("error: name the rows (IDs) or --dead, optionally with --type and --error-contains.");
                return ExitCodes.Usage;
            }

            // Every row named must be dead: a mistyped id retries nothing rather than the rest without a word.
            var notDead = named.Where(i => !chosen.Any(r => (long.TryParse(i, out var id) && r.Id == id) || (Guid.TryParse(i, out var messageId) && r.MessageId == messageId))).ToList();
            if (notDead.Count > 0)
            {
                context.Error.WriteLine($"error: no dead row has the id or message id {string.Join(", ", notDead)} (`outbox list --status dead` lists them); nothing was retried.");
                return ExitCodes.Failed;
            }

            if (await NothingOrNotConfirmedAsync(context, result, chosen, $"Retry {chosen.Count} dead row(s) of {db.GetType().Name}?", cancellationToken).ConfigureAwait(false) is { } stop)
            {
                return stop;
            }

            // All in one transaction: a relay never finds a later row of a key pending while an earlier one is still dead.
            var administration = (IOutboxAdministration)services.GetRequiredService(typeof(IOutboxAdministration<>).MakeGenericType(db.GetType()));
            var retried = await administration.RetryDeadAsync([.. chosen.Select(r => r.MessageId)], cancellationToken).ConfigureAwait(false);
            context.WriteLine($"{retried} row(s) pending again.");
            return Fewer(context, retried, chosen.Count, "retried");
        }));
        return command;
    }

    private static Command Purge(CommandContext context)
    {
        var dead = new Option<bool>("--dead") { Description = "Delete dead rows (narrowed by --type and --error-contains)." };
        var type = new Option<string?>("--type") { Description = "Only dead rows of this message type." };
        var errorContains = new Option<string?>("--error-contains") { Description = "Only dead rows whose last error contains this text." };
        var before = DateOptions.Optional("--processed-before", "Delete processed rows processed before this time.");
        var command = new Command("purge", "Deletes dead rows, or processed rows older than a date.") { dead, type, errorContains, before, Shared.Yes, Shared.Context };
        command.SetAction((result, cancellationToken) => OnOutbox(context, result, async (db, _) =>
        {
            var rows = db.Set<OutboxMessage>();
            if (result.GetValue(before) is { } cutoff && !result.GetValue(dead))
            {
                if (result.GetValue(type) is not null || result.GetValue(errorContains) is not null)
                {
                    context.Error.WriteLine("error: --type and --error-contains narrow --dead only, not --processed-before.");
                    return ExitCodes.Usage;
                }

                var utc = cutoff;
                if (utc > DateTime.UtcNow)
                {
                    // The count asked about would not be what is deleted: rows the relay marks meanwhile would go too.
                    context.Error.WriteLine($"error: --processed-before {utc:u} is in the future: rows processed after this command asks for confirmation would be deleted too.");
                    return ExitCodes.Usage;
                }

                var count = await rows.CountAsync(m => m.Status == OutboxMessageStatus.Processed && m.ProcessedAt < utc, cancellationToken).ConfigureAwait(false);
                if (count > 0 && !await Shared.ConfirmAsync(context, result, $"Delete {count} processed row(s) of {db.GetType().Name} processed before {utc:u}?", cancellationToken).ConfigureAwait(false))
                {
                    return ExitCodes.Usage;
                }

                var deleted = await Shared.DeleteInBatchesAsync(rows.Where(m => m.Status == OutboxMessageStatus.Processed && m.ProcessedAt < utc).OrderBy(m => m.Id), cancellationToken).ConfigureAwait(false);
                context.WriteLine($"{deleted} processed row(s) deleted.");
                return ExitCodes.Ok;
            }

            var chosen = await ChooseDeadAsync(db, [], result.GetValue(dead), result.GetValue(type), result.GetValue(errorContains), cancellationToken).ConfigureAwait(false);
            if (chosen is null || result.GetValue(before) is not null)
            {
                context.Error.WriteLine("error: give either --dead (optionally with --type and --error-contains) or --processed-before DATE.");
                return ExitCodes.Usage;
            }

            if (await NothingOrNotConfirmedAsync(context, result, chosen, $"Delete {chosen.Count} dead row(s) of {db.GetType().Name}?", cancellationToken).ConfigureAwait(false) is { } stop)
            {
                return stop;
            }

            var purged = 0;
            foreach (var chunk in chosen.Select(r => r.MessageId).Chunk(500))
            {
                purged += await rows.Where(m => m.Status == OutboxMessageStatus.Dead && chunk.Contains(m.MessageId)).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
            }

            context.WriteLine($"{purged} dead row(s) deleted.");
            return Fewer(context, purged, chosen.Count, "deleted");
        }));
        return command;
    }

    /// <summary>
    /// Done (0) when every row chosen was changed; otherwise says how many were not (they stopped being dead after they were
    /// chosen: retried, purged or changed by someone else meanwhile) and fails (1), so a script does not take part of the
    /// change for all of it.
    /// </summary>
    private static int Fewer(CommandContext context, int changed, int chosen, string what)
    {
        if (changed >= chosen)
        {
            return ExitCodes.Ok;
        }

        context.Error.WriteLine($"error: {chosen - changed} of the {chosen} row(s) chosen were not {what}: they were no longer dead (retried, purged or changed since they were chosen).");
        return ExitCodes.Failed;
    }

    /// <summary>The exit code when there is nothing to change (0) or the change is not confirmed (2); null to go on.</summary>
    private static async Task<int?> NothingOrNotConfirmedAsync(CommandContext context, ParseResult result, List<DeadRow> chosen, string question, CancellationToken cancellationToken)
    {
        if (chosen.Count == 0)
        {
            context.WriteLine("No dead row matches.");
            return ExitCodes.Ok;
        }

        return await Shared.ConfirmAsync(context, result, question, cancellationToken).ConfigureAwait(false) ? null : ExitCodes.Usage;
    }

    /// <summary>A dead row chosen by a command.</summary>
    private sealed record DeadRow(long Id, Guid MessageId);

    /// <summary>The dead rows chosen by ids, or by <c>--dead</c> and its filters; null when nothing chooses.</summary>
    private static async Task<List<DeadRow>?> ChooseDeadAsync(DbContext db, string[] ids, bool allDead, string? type, string? errorContains, CancellationToken cancellationToken)
    {
        var dead = db.Set<OutboxMessage>().AsNoTracking().Where(m => m.Status == OutboxMessageStatus.Dead);
        if (ids.Length > 0)
        {
            var rowIds = ids.Select(i => long.TryParse(i, out var n) ? n : (long?)null).OfType<long>().ToList();
            var messageIds = ids.Select(i => Guid.TryParse(i, out var g) ? g : (Guid?)null).OfType<Guid>().ToList();
            return await dead.Where(m => rowIds.Contains(m.Id) || messageIds.Contains(m.MessageId)).OrderBy(m => m.Id).Select(m => new DeadRow(m.Id, m.MessageId)).ToListAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!allDead)
        {
            return null;
        }

        if (type is not null)
        {
            dead = dead.Where(m => m.MessageType == type);
        }

        var rows = await dead.OrderBy(m => m.Id).Select(m => new { m.Id, m.MessageId, m.LastError }).ToListAsync(cancellationToken).ConfigureAwait(false);
        return [.. rows.Where(r => errorContains is null || (r.LastError ?? "").Contains(errorContains, StringComparison.OrdinalIgnoreCase)).Select(r => new DeadRow(r.Id, r.MessageId))];
    }

    private static Task<int> OnOutbox(CommandContext context, ParseResult result, Func<DbContext, IServiceProvider, Task<int>> work) =>
        context.Pick(context.OutboxContexts, result.GetValue(Shared.Context), "outbox") is { } type
            ? context.WithContextAsync(type, work)
            : Task.FromResult(ExitCodes.Failed);

    /// <summary>A dead row's failure for grouping: its last error's first line, cut at 160 characters.</summary>
    private static string FailureOf(string? lastError)
    {
        if (string.IsNullOrWhiteSpace(lastError))
        {
            return "(no error recorded)";
        }

        var line = lastError.Split('\n')[0].Trim();
        return line.Length > 160 ? line[..160] + "…" : line;
    }

    private static string Shorten(string? text) => text is null ? "" : text.Length > 60 ? text[..60] + "…" : text;

    internal sealed record DestinationCount(string Exchange, string MessageType, int Pending, int Leased, double? OldestPendingAgeSeconds, int Dead, int Processed);

    private static double AgeSeconds(DateTime now, DateTime occurredAt) => Math.Max(0, (now - DateTime.SpecifyKind(occurredAt, DateTimeKind.Utc)).TotalSeconds);

    internal sealed record FailureCount(string Failure, int Count);

    internal sealed record OutboxStats(string Context, int Pending, int Leased, int Dead, int Processed, double? OldestPendingAgeSeconds, IReadOnlyList<DestinationCount> ByDestination, IReadOnlyList<FailureCount> DeadByFailure);

    internal sealed record OutboxRow(long Id, Guid MessageId, string MessageType, int Version, string Exchange, string RoutingKey, string PartitionKey, string Status, int Attempts, DateTime OccurredAt, DateTime? ProcessedAt, string? LastError);
}

/// <summary>Options and output shared by the commands.</summary>
internal static class Shared
{
    public static readonly Option<string?> Context = new("--context") { Description = "The DbContext (its type name) when the host has several; default: the first registered." };

    public static readonly Option<bool> Json = new("--json") { Description = "Write JSON instead of a table, for scripts." };

    public static readonly Option<bool> Yes = new("--yes", "-y") { Description = "Do not ask for confirmation (for scripts)." };

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static void WriteJson<T>(CommandContext context, T value) =>
        context.Console.Profile.Out.Writer.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    /// <summary>
    /// With <c>--yes</c>, yes; on a terminal, the operator's answer; otherwise (a script without --yes) no, and says why.
    /// Ctrl+C or SIGTERM at the question ends the wait for an answer (<see cref="OperationCanceledException"/>): nothing is done.
    /// </summary>
    public static async Task<bool> ConfirmAsync(CommandContext context, ParseResult result, string question, CancellationToken cancellationToken)
    {
        if (result.GetValue(Yes))
        {
            return true;
        }

        if (!context.Console.Profile.Capabilities.Interactive)
        {
            context.Error.WriteLine($"error: {question} Not done: confirm with --yes when not at a terminal.");
            return false;
        }

        var prompt = new ConfirmationPrompt(Markup.Escape(question)) { DefaultValue = false };
        try
        {
            return await prompt.ShowAsync(context.Console, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The question's line has no end yet: the line that says the command was interrupted goes on a line of its own.
            context.Console.WriteLine();
            throw;
        }
    }

    /// <summary>How many rows one statement of a purge deletes.</summary>
    public const int PurgeBatchSize = 10_000;

    /// <summary>
    /// Deletes the rows of <paramref name="rows"/> a batch at a time, each batch its own statement (and transaction), as
    /// the relay's clean-up does: a large purge neither holds writers off for its whole length nor runs into the command
    /// timeout, and what it deleted stays deleted if it is stopped.
    /// </summary>
    /// <returns>The rows deleted.</returns>
    public static async Task<int> DeleteInBatchesAsync<T>(IOrderedQueryable<T> rows, CancellationToken cancellationToken)
    {
        var deleted = 0;
        while (true)
        {
            var batch = await rows.Take(PurgeBatchSize).ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
            deleted += batch;
            if (batch < PurgeBatchSize)
            {
                return deleted;
            }
        }
    }
}
