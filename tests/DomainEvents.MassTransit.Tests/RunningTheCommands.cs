using System.Diagnostics;
using System.Text.Json;
using DomainEvents.CommandHost;
using DomainEvents.EntityFrameworkCore.Backfill;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.EntityFrameworkCore.Outbox;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The commands as an operator runs them: the host's own executable (tests/DomainEvents.CommandHost, a Program.cs with
/// the one line) started as a process, its output and exit code read, against real databases and RabbitMQ.
/// The two fixtures run beside each other (and beside no other fixture): each test has a database and an exchange of its
/// own, and most of its time is a command's process starting.
/// </summary>
[TestFixture(DatabaseProvider.PostgreSql)]
[TestFixture(DatabaseProvider.Sqlite)]
[Category("Integration")]
[Parallelizable(ParallelScope.Self)]
public sealed class RunningTheCommands(DatabaseProvider provider)
{
    private TestDatabase _database = null!;
    private ServiceProvider _services = null!;
    private string _exchange = null!;

    private string ProviderName => provider == DatabaseProvider.Sqlite ? "sqlite" : "postgres";

    [SetUp]
    public async Task CreateAsync()
    {
        _database = await TestDatabase.CreateAsync(provider);
        _exchange = $"cmd-{Guid.NewGuid():N}"[..16];
        var services = new ServiceCollection();
        ShopHost.Configure(services, new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(), new ShopHost.Settings(ProviderName, _database.ConnectionString, RabbitMq: null, _exchange));
        _services = services.BuildServiceProvider();
        await InScopeAsync(db => db.Database.EnsureCreatedAsync());
    }

    [TearDown]
    public async Task DropAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Test]
    public async Task Outbox_commands_show_the_rows_and_a_retry_needs_confirmation_then_makes_a_dead_row_pending()
    {
        await SellAsync(3);
        var deadId = await KillFirstRowAsync();

        var stats = await RunAsync("outbox", "stats", "--json");
        stats.ExitCode.Should().Be(0, stats.Error);
        using (var json = JsonDocument.Parse(stats.Output))
        {
            json.RootElement.GetProperty("pending").GetInt32().Should().Be(2);
            json.RootElement.GetProperty("dead").GetInt32().Should().Be(1);
            json.RootElement.GetProperty("byDestination")[0].GetProperty("messageType").GetString().Should().Be("ticket.sold");
            json.RootElement.GetProperty("deadByFailure")[0].GetProperty("failure").GetString().Should().Contain("ACCESS_REFUSED");
        }

        var table = await RunAsync("outbox", "stats");
        table.ExitCode.Should().Be(0);
        table.Output.Should().Contain("2 pending").And.Contain("1 dead").And.Contain("ticket.sold");

        var dead = await RunAsync("outbox", "list", "--status", "dead", "--json");
        JsonDocument.Parse(dead.Output).RootElement.EnumerateArray().Select(r => r.GetProperty("id").GetInt64()).Should().Equal(deadId);
        (await RunAsync("outbox", "show", deadId.ToString())).Output.Should().Contain("ACCESS_REFUSED").And.Contain("ticketId");
        (await RunAsync("outbox", "show", "987654")).ExitCode.Should().Be(1);
        (await RunAsync("outbox", "show", "not-an-id")).ExitCode.Should().Be(2, "a malformed id is a usage error, as for retry");

        var unconfirmed = await RunAsync("outbox", "retry", "--dead");
        unconfirmed.ExitCode.Should().Be(2, "a change is not made without --yes when no one is at a terminal");
        unconfirmed.Error.Should().Contain("--yes");
        (await StatusOfAsync(deadId)).Should().Be(OutboxMessageStatus.Dead);

        var retried = await RunAsync("outbox", "retry", "--dead", "--error-contains", "access_refused", "--yes");
        retried.ExitCode.Should().Be(0, retried.Error);
        retried.Output.Should().Contain("1 row(s) pending again");
        (await StatusOfAsync(deadId)).Should().Be(OutboxMessageStatus.Pending);

        var usage = await RunAsync("outbox", "list", "--status", "lost");
        usage.ExitCode.Should().Be(2);
        usage.Error.Should().StartWith("error:");
    }

    [Test]
    public async Task Retry_makes_the_dead_rows_of_a_key_pending_together_and_refuses_ids_it_cannot_retry()
    {
        // 1,200 rows on one key (more than one statement's worth), made dead last row first (so that nothing but the
        // command's own care puts them in id order).
        await SellAsync(1200);
        await InScopeAsync(async db =>
        {
            var rows = await db.Set<OutboxMessage>().OrderByDescending(m => m.Id).ToListAsync();
            foreach (var row in rows)
            {
                row.PartitionKey = "one-ticket";
                row.Status = OutboxMessageStatus.Dead;
                row.Attempts = 3;
                row.LastError = "The broker refused ticket.sold: NOT_FOUND";
            }

            return await db.SaveChangesAsync();
        });
        var ids = await InScopeAsync(db => db.Set<OutboxMessage>().OrderBy(m => m.Id).Select(m => m.Id).ToListAsync());

        var unknown = await RunAsync("outbox", "retry", ids[0].ToString(), "987654", "--yes");
        unknown.ExitCode.Should().Be(1, unknown.Error);
        unknown.Error.Should().Contain("987654");
        (await RunAsync("outbox", "retry", "not-an-id", "--yes")).ExitCode.Should().Be(2);
        (await RunAsync("outbox", "retry", ids[0].ToString(), "--type", "ticket.refunded", "--yes")).ExitCode.Should().Be(2, "--type narrows --dead, not named rows");
        (await StatusOfAsync(ids[0])).Should().Be(OutboxMessageStatus.Dead, "a refused retry changes nothing");

        // What a relay's claim would see while the command runs: never a pending row of the key after a dead one.
        var running = Start(["outbox", "retry", "--dead", "--yes"], _database.ConnectionString, null);
        var looks = 0;
        var overtaken = 0;
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!running.Process.HasExited && DateTime.UtcNow < until)
        {
            looks++;
            overtaken += await InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(p => p.Status == OutboxMessageStatus.Pending
                && db.Set<OutboxMessage>().Any(d => d.PartitionKey == p.PartitionKey && d.Status == OutboxMessageStatus.Dead && d.Id < p.Id)));
            await Task.Delay(5);
        }

        await ExitAsync(running, TimeSpan.FromSeconds(60), "'outbox retry --dead' did not end within 60 s");
        running.Process.ExitCode.Should().Be(0, running.Text(running.Error));
        running.Text(running.Output).Should().Contain("1200 row(s) pending again");
        overtaken.Should().Be(0, $"a pending row after a dead one of its key lets a relay send it first ({looks} looks)");
        (await InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.Status == OutboxMessageStatus.Pending && m.Attempts == 0))).Should().Be(1200);
    }

    [Test]
    public async Task A_retry_or_purge_that_changes_fewer_dead_rows_than_it_chose_says_so_and_exits_1()
    {
        await SellAsync(1);
        var deadId = await KillFirstRowAsync();

        // A trigger leaves the row as it is when the command changes it, as if someone else had retried or purged it between
        // the command's choice and its change.
        await InScopeAsync(db => db.Database.ExecuteSqlRawAsync(provider == DatabaseProvider.Sqlite
            ? """
              CREATE TRIGGER keep_dead_rows_u BEFORE UPDATE ON outbox_messages BEGIN SELECT RAISE(IGNORE); END;
              CREATE TRIGGER keep_dead_rows_d BEFORE DELETE ON outbox_messages BEGIN SELECT RAISE(IGNORE); END;
              """
            : """
              CREATE FUNCTION keep_dead_rows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
              CREATE TRIGGER keep_dead_rows BEFORE UPDATE OR DELETE ON outbox_messages FOR EACH ROW EXECUTE FUNCTION keep_dead_rows();
              """));

        var retried = await RunAsync("outbox", "retry", "--dead", "--yes");
        retried.ExitCode.Should().Be(1, retried.Output + retried.Error);
        retried.Output.Should().Contain("0 row(s) pending again");
        retried.Error.Should().Contain("1 of the 1 row(s) chosen were not retried");

        var purged = await RunAsync("outbox", "purge", "--dead", "--yes");
        purged.ExitCode.Should().Be(1, purged.Output + purged.Error);
        purged.Output.Should().Contain("0 dead row(s) deleted");
        purged.Error.Should().Contain("1 of the 1 row(s) chosen were not deleted");
        (await StatusOfAsync(deadId)).Should().Be(OutboxMessageStatus.Dead);
    }

    [Test]
    public async Task Purges_of_more_rows_than_one_statement_deletes_delete_them_all_and_count_them_once()
    {
        // One more than a purge deletes in one statement (10,000).
        const int rows = 10_001;
        var old = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await InScopeAsync(async db =>
        {
            db.Set<OutboxMessage>().AddRange(Enumerable.Range(0, rows).Select(i => new OutboxMessage
            {
                MessageId = Guid.CreateVersion7(), MessageType = "ticket.sold", Exchange = _exchange, RoutingKey = "ticket.sold", PartitionKey = $"ticket/{i}",
                Payload = "{}", Headers = "{}", OccurredAt = old, NextAttemptAt = old, Status = OutboxMessageStatus.Processed, ProcessedAt = old,
            }));
            db.Set<DomainEvents.EntityFrameworkCore.Inbox.InboxMessage>().AddRange(Enumerable.Range(0, rows).Select(_ =>
                new DomainEvents.EntityFrameworkCore.Inbox.InboxMessage { MessageId = Guid.NewGuid(), Consumer = "TicketSoldConsumer", ProcessedAt = old }));
            return await db.SaveChangesAsync();
        });

        var outbox = await RunAsync("outbox", "purge", "--processed-before", "2025-01-01", "--yes");
        outbox.ExitCode.Should().Be(0, outbox.Error);
        outbox.Output.Should().Contain($"{rows} processed row(s) deleted");
        var inbox = await RunAsync(["inbox", "purge", "--before", "2025-01-01", "--yes"], _database.ConnectionString, TestServers.RabbitMqUri.ToString());
        inbox.ExitCode.Should().Be(0, inbox.Error);
        inbox.Output.Should().Contain($"{rows} inbox record(s) deleted");
        (await InScopeAsync(db => db.Set<OutboxMessage>().CountAsync())).Should().Be(0);
        (await InScopeAsync(db => db.Set<DomainEvents.EntityFrameworkCore.Inbox.InboxMessage>().CountAsync())).Should().Be(0);
    }

    [Test]
    public async Task List_filters_stats_per_destination_purges_and_publish_from_a_file_touch_only_what_they_name()
    {
        await SellAsync(4);
        var deadId = await KillFirstRowAsync();
        var ids = await InScopeAsync(db => db.Set<OutboxMessage>().OrderBy(m => m.Id).Select(m => m.Id).ToListAsync());
        await InScopeAsync(async db =>
        {
            var rows = await db.Set<OutboxMessage>().Where(m => m.Id == ids[1] || m.Id == ids[2]).OrderBy(m => m.Id).ToListAsync();
            rows[0].Status = rows[1].Status = OutboxMessageStatus.Processed;
            rows[0].ProcessedAt = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            rows[1].ProcessedAt = DateTime.UtcNow;
            return await db.SaveChangesAsync();
        });
        var lastKey = await InScopeAsync(db => db.Set<OutboxMessage>().Where(m => m.Id == ids[3]).Select(m => m.PartitionKey).SingleAsync());

        static long[] Ids((int ExitCode, string Output, string Error) list)
        {
            list.ExitCode.Should().Be(0, list.Error);
            return [.. JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(r => r.GetProperty("id").GetInt64())];
        }

        Ids(await RunAsync("outbox", "list", "--status", "pending", "--type", "ticket.sold", "--exchange", _exchange, "--key", lastKey, "--json")).Should().Equal(ids[3]);
        Ids(await RunAsync("outbox", "list", "--status", "processed", "--limit", "1", "--json")).Should().Equal([ids[1]], "oldest first");
        Ids(await RunAsync("outbox", "list", "--status", "pending", "--exchange", "elsewhere", "--json")).Should().BeEmpty();

        // One row of this exchange being sent by a relay; one row, not being sent, to another exchange.
        await InScopeAsync(async db =>
        {
            var row = await db.Set<OutboxMessage>().SingleAsync(m => m.Id == ids[3]);
            row.LeaseOwner = "another-relay#1";
            row.LeaseExpiresAt = DateTime.UtcNow.AddMinutes(5);
            row.OccurredAt = DateTime.UtcNow.AddHours(-1);
            return await db.SaveChangesAsync();
        });
        (await RunAsync("publish", "elsewhere", "ticket.sold", "--type", "ticket.sold", "--json", $$"""{"ticketId":"{{Guid.NewGuid()}}"}""")).ExitCode.Should().Be(0);
        var stats = await RunAsync("outbox", "stats", "--json");
        using (var json = JsonDocument.Parse(stats.Output))
        {
            var destinations = json.RootElement.GetProperty("byDestination").EnumerateArray().ToDictionary(d => d.GetProperty("exchange").GetString()!);
            destinations.Keys.Should().BeEquivalentTo([_exchange, "elsewhere"]);
            var mine = destinations[_exchange];
            mine.GetProperty("pending").GetInt32().Should().Be(1);
            mine.GetProperty("leased").GetInt32().Should().Be(1);
            mine.GetProperty("oldestPendingAgeSeconds").GetDouble().Should().BeGreaterThan(3500, "its pending row occurred an hour ago");
            mine.GetProperty("dead").GetInt32().Should().Be(1);
            mine.GetProperty("processed").GetInt32().Should().Be(2);
            var other = destinations["elsewhere"];
            other.GetProperty("pending").GetInt32().Should().Be(1);
            other.GetProperty("leased").GetInt32().Should().Be(0);
            other.GetProperty("oldestPendingAgeSeconds").GetDouble().Should().BeLessThan(3500);
            other.GetProperty("dead").GetInt32().Should().Be(0);
            json.RootElement.GetProperty("leased").GetInt32().Should().Be(1);
            json.RootElement.GetProperty("pending").GetInt32().Should().Be(2);
        }

        var notIso = await RunAsync("outbox", "purge", "--processed-before", "12/31/2099", "--yes");
        notIso.ExitCode.Should().Be(2, notIso.Output + notIso.Error);
        notIso.Error.Should().Contain("--processed-before: '12/31/2099' is not a date in ISO 8601 form").And.NotContain("OptionResult");
        var tomorrow = await RunAsync("outbox", "purge", "--processed-before", DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd"), "--yes");
        tomorrow.ExitCode.Should().Be(2, tomorrow.Error);
        tomorrow.Error.Should().Contain("in the future");
        var processed = await RunAsync("outbox", "purge", "--processed-before", "2025-01-01", "--yes");
        processed.ExitCode.Should().Be(0, processed.Error);
        processed.Output.Should().Contain("1 processed row(s) deleted");
        (await RunAsync("outbox", "purge", "--processed-before", "2025-01-01", "--type", "ticket.sold", "--yes")).ExitCode.Should().Be(2, "--type narrows --dead only");
        var dead = await RunAsync("outbox", "purge", "--dead", "--yes");
        dead.ExitCode.Should().Be(0, dead.Error);
        dead.Output.Should().Contain("1 dead row(s) deleted");
        (await InScopeAsync(db => db.Set<OutboxMessage>().Where(m => m.Exchange == _exchange).OrderBy(m => m.Id).Select(m => m.Id).ToListAsync())).Should().Equal(ids[2], ids[3]);
        deadId.Should().Be(ids[0]);

        var payload = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(payload, $$"""{"ticketId":"{{Guid.NewGuid()}}","refundedBy":"ops"}""");
            var published = await RunAsync("publish", _exchange, "ticket.sold.v2", "--type", "ticket.sold", "--version", "2", "--file", payload);
            published.ExitCode.Should().Be(0, published.Error);
            var row = await InScopeAsync(db => db.Set<OutboxMessage>().AsNoTracking().OrderBy(m => m.Id).LastAsync());
            row.Should().BeEquivalentTo(new { MessageType = "ticket.sold", Version = 2, RoutingKey = "ticket.sold.v2", Exchange = _exchange });
            JsonDocument.Parse(row.Payload).RootElement.GetProperty("refundedBy").GetString().Should().Be("ops");
        }
        finally
        {
            File.Delete(payload);
        }

        (await RunAsync("publish", _exchange, "ticket.sold", "--type", "ticket.sold", "--file", "/no/such/file.json")).ExitCode.Should().Be(2);

        // The inbox commands find the inbox through the consumers that use it, so the host is given its broker (not contacted).
        var rabbit = TestServers.RabbitMqUri.ToString();
        await InScopeAsync(async db =>
        {
            db.Set<DomainEvents.EntityFrameworkCore.Inbox.InboxMessage>().AddRange(
                new() { MessageId = Guid.NewGuid(), Consumer = "TicketSoldConsumer", ProcessedAt = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
                new() { MessageId = Guid.NewGuid(), Consumer = "TicketSoldConsumer", ProcessedAt = DateTime.UtcNow });
            return await db.SaveChangesAsync();
        });
        var future = await RunAsync(["inbox", "purge", "--before", DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd"), "--yes"], _database.ConnectionString, rabbit);
        future.ExitCode.Should().Be(2, future.Error);
        future.Error.Should().Contain("in the future");
        // A date in a culture's own order is refused in every culture: 04/05/2026 is the 4th of May in some, the 5th of April in
        // others, and read either way it is in the past, so the purge would run.
        var ambiguous = await RunAsync(["inbox", "purge", "--before", "04/05/2026", "--yes"], _database.ConnectionString, rabbit);
        ambiguous.ExitCode.Should().Be(2, ambiguous.Output + ambiguous.Error);
        ambiguous.Error.Should().Contain("--before: '04/05/2026' is not a date in ISO 8601 form").And.NotContain("OptionResult");
        var inbox = await RunAsync(["inbox", "purge", "--before", "2025-01-01T00:00:00Z", "--yes"], _database.ConnectionString, rabbit);
        inbox.ExitCode.Should().Be(0, inbox.Error);
        inbox.Output.Should().Contain("1 inbox record(s) deleted");
        var inboxStats = await RunAsync(["inbox", "stats"], _database.ConnectionString, rabbit);
        inboxStats.ExitCode.Should().Be(0, inboxStats.Error);
        inboxStats.Output.Should().Contain("1 message(s) recorded").And.Contain("TicketSoldConsumer");
    }

    [Test]
    public async Task A_backfill_from_the_command_line_prints_plain_progress_when_redirected_and_a_second_pass_dispatches_nothing()
    {
        await InScopeAsync(async db =>
        {
            db.Tickets.AddRange(Enumerable.Range(0, 30).Select(_ => new Ticket { ExpiresAt = DateTime.UtcNow.AddDays(1) }));
            await db.SaveChangesAsync();
            return await db.Tickets.ExecuteUpdateAsync(s => s.SetProperty(t => t.ExpiresAt, DateTime.UtcNow.AddDays(-1)));
        });

        var first = await RunAsync("backfill", "Ticket", "--page-size", "10");
        first.ExitCode.Should().Be(0, first.Error);
        first.Output.Should().Contain("read 10/30").And.Contain("read 30/30").And.Contain("30 events produced, 0 keys already handled, 30 dispatched");
        first.Output.Should().NotContain("\u001b[", "no escape codes when the output is not a terminal");

        var second = await RunAsync("backfill", "ticket");
        second.ExitCode.Should().Be(0, second.Error);
        second.Output.Should().Contain("30 keys already handled, 0 dispatched");
        (await InScopeAsync(db => db.Set<HandledEventKey>().CountAsync())).Should().Be(30);

        var unknown = await RunAsync("backfill", "Nothing");
        unknown.ExitCode.Should().Be(1);
        unknown.Error.Should().Contain("no entity type named 'Nothing'");
    }

    [Test]
    public async Task A_backfill_interrupted_with_Ctrl_C_gives_its_checkpoint_back_and_goes_on_from_it_at_once()
    {
        const int Count = 3000;
        await InScopeAsync(async db =>
        {
            db.Tickets.AddRange(Enumerable.Range(0, Count).Select(_ => new Ticket { ExpiresAt = DateTime.UtcNow.AddDays(-1) }));
            return await db.SaveChangesAsync();
        });

        // Pages of 5 entities, each its own transaction: the pass is still going when the signal comes.
        var running = Start(["backfill", "Ticket", "--page-size", "5"], _database.ConnectionString, null);
        await WaitForLineAsync(running, "read 5/", TimeSpan.FromSeconds(60));
        using (var interrupt = Process.Start("kill", ["-INT", running.Process.Id.ToString()]))
        {
            await interrupt!.WaitForExitAsync();
        }

        await ExitAsync(running, TimeSpan.FromSeconds(30), "the backfill did not stop within 30 s of Ctrl+C");
        running.Process.ExitCode.Should().Be(1, running.Text(running.Output) + running.Text(running.Error));
        running.Text(running.Error).Should().Contain("interrupted");
        var stopped = await InScopeAsync(db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleAsync(c => c.Name == "Ticket"));
        stopped.EntitiesRead.Should().BeInRange(5, Count - 1, "the pass was interrupted after its first page: " + running.Text(running.Output) + running.Text(running.Error));
        stopped.Owner.Should().BeNull("the interrupted run gave its checkpoint back");

        // Not held until the checkpoint's lease runs out: the next run takes it at once and reads the rest.
        var resumed = await RunAsync("backfill", "Ticket", "--from-checkpoint", "--page-size", "500");
        resumed.ExitCode.Should().Be(0, resumed.Error);
        resumed.Output.Should().Contain($"backfill Ticket: {Count} entities read");
        (await InScopeAsync(db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleAsync(c => c.Name == "Ticket"))).CompletedAt.Should().NotBeNull();
    }

    [Test]
    public async Task At_a_terminal_the_backfill_shows_a_progress_bar()
    {
        await InScopeAsync(async db =>
        {
            db.Tickets.AddRange(Enumerable.Range(0, 30).Select(_ => new Ticket { ExpiresAt = DateTime.UtcNow.AddDays(-1) }));
            return await db.SaveChangesAsync();
        });

        // A real terminal: tmux gives the process a pseudo-terminal of 120 x 30, and its screen is read back.
        var session = $"de-{Guid.NewGuid():N}"[..12];
        var command = string.Join(' ', new[]
        {
            $"SHOP_PROVIDER={ProviderName}", $"SHOP_CONNECTION='{_database.ConnectionString}'", $"SHOP_EXCHANGE={_exchange}",
            "dotnet", Path.Combine(AppContext.BaseDirectory, "DomainEvents.CommandHost.dll"), "backfill", "Ticket", "--page-size", "10", "; sleep 30",
        });
        await TmuxAsync("new-session", "-d", "-s", session, "-x", "120", "-y", "30", command);
        try
        {
            var screen = await WaitForScreenAsync(session, "backfill Ticket: 30 entities read", TimeSpan.FromSeconds(60));
            screen.Should().Contain("backfill Ticket: 30 entities read", "the summary follows the bar");
            screen.Should().Contain("100%").And.Contain("30/30", "the bar, as the terminal shows it, reached the end");
            screen.Should().NotContain("read 10/30,", "plain lines are for redirected output only");
        }
        finally
        {
            await TmuxAsync("kill-session", "-t", session);
        }
    }

    [Test]
    public async Task Ctrl_C_at_a_confirmation_question_ends_the_command_at_once_and_deletes_nothing()
    {
        await SellAsync(1);
        var deadId = await KillFirstRowAsync();

        // A real terminal (tmux), so the purge asks; bash runs it and prints its exit code. The signal goes to the command's
        // own process, as Ctrl+C at its question would.
        var session = $"de-{Guid.NewGuid():N}"[..12];
        var command = string.Join(' ', new[]
        {
            $"SHOP_PROVIDER={ProviderName}", $"SHOP_CONNECTION='{_database.ConnectionString}'", $"SHOP_EXCHANGE={_exchange}",
            "dotnet", Path.Combine(AppContext.BaseDirectory, "DomainEvents.CommandHost.dll"), "outbox", "purge", "--dead", "; echo \"exit=$?\"; sleep 30",
        });
        await TmuxAsync("new-session", "-d", "-s", session, "-x", "160", "-y", "30", "bash", "-c", command);
        try
        {
            var screen = await WaitForScreenAsync(session, "Delete 1 dead row(s)", TimeSpan.FromSeconds(60));
            screen.Should().Contain("Delete 1 dead row(s)", "the purge asks at a terminal");
            var shell = (await TmuxAsync("display-message", "-p", "-t", session, "#{pane_pid}")).Trim();
            var child = (await RunProcessAsync("pgrep", "-P", shell)).Trim().Split('\n')[0];
            await RunProcessAsync("kill", "-INT", child);

            screen = await WaitForScreenAsync(session, "exit=", TimeSpan.FromSeconds(10));
            screen.Should().Contain("exit=1", "one Ctrl+C ends the question and the command");
            screen.Split('\n').Should().Contain(l => l.StartsWith("error: interrupted", StringComparison.Ordinal), "the line says so on a line of its own, after the question's: " + screen);
            (await StatusOfAsync(deadId)).Should().Be(OutboxMessageStatus.Dead, "nothing was confirmed, so nothing was deleted");
        }
        finally
        {
            await TmuxAsync("kill-session", "-t", session);
        }
    }

    /// <summary>The screen of a tmux session (wrapped lines joined) once it shows <paramref name="text"/>, or as it is after <paramref name="within"/>.</summary>
    private static async Task<string> WaitForScreenAsync(string session, string text, TimeSpan within)
    {
        var screen = "";
        var until = DateTime.UtcNow + within;
        while (!screen.Contains(text, StringComparison.Ordinal) && DateTime.UtcNow < until)
        {
            await Task.Delay(200);
            screen = await TmuxAsync("capture-pane", "-p", "-J", "-t", session);
        }

        return screen;
    }

    private static Task<string> TmuxAsync(params string[] arguments) => RunProcessAsync("tmux", arguments);

    private static async Task<string> RunProcessAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} could not be started; the test needs it (tmux: apt install tmux).");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }

    [Test]
    public async Task Publish_writes_a_checked_event_through_the_outbox_and_topology_lists_what_the_host_declares()
    {
        var ticketId = Guid.NewGuid();
        var published = await RunAsync("publish", _exchange, "ticket.sold", "--type", "ticket.sold", "--json", $$"""{"ticketId":"{{ticketId}}"}""", "--key", $"Ticket/{ticketId}");
        published.ExitCode.Should().Be(0, published.Error);
        var row = await InScopeAsync(db => db.Set<OutboxMessage>().AsNoTracking().SingleAsync());
        row.Should().BeEquivalentTo(new { MessageType = "ticket.sold", Exchange = _exchange, RoutingKey = "ticket.sold", PartitionKey = $"Ticket/{ticketId}", Status = OutboxMessageStatus.Pending });
        published.Output.Should().Contain(row.MessageId.ToString());

        var invalid = await RunAsync("publish", _exchange, "ticket.sold", "--type", "ticket.sold", "--json", """{"ticketId":"not a guid"}""");
        invalid.ExitCode.Should().Be(2);
        invalid.Error.Should().Contain("not a valid ticket.sold v1");
        (await RunAsync("publish", _exchange, "ticket.sold", "--type", "ticket.sold")).ExitCode.Should().Be(2, "no payload");
        (await InScopeAsync(db => db.Set<OutboxMessage>().CountAsync())).Should().Be(1, "nothing refused was written");

        var topology = await RunAsync(["topology", "--json"], _database.ConnectionString, TestServers.RabbitMqUri.ToString());
        topology.ExitCode.Should().Be(0, topology.Error);
        using var json = JsonDocument.Parse(topology.Output);
        json.RootElement.GetProperty("exchanges").EnumerateArray().Select(e => (e.GetProperty("name").GetString(), e.GetProperty("type").GetString()))
            .Should().Equal((_exchange, "topic"));
        var queue = json.RootElement.GetProperty("queues").EnumerateArray().Single();
        queue.GetProperty("name").GetString().Should().Be(_exchange + "-receipts");
        queue.GetProperty("bindings")[0].GetProperty("pattern").GetString().Should().Be("ticket.sold");
        queue.GetProperty("inbox").GetBoolean().Should().BeTrue();
    }

    [Test]
    public async Task Topology_apply_declares_the_queue_with_its_bindings_from_code_and_configuration_and_consumes_nothing()
    {
        var extra = _exchange + "-x";
        var queue = _exchange + "-receipts";
        (string, string?) binding = ($"DomainEvents__Consumers__TicketSoldConsumer__Bindings__{extra}__0", "refund.#");
        await using var connection = await RabbitMqAdmin.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            var applied = await RunAsync(["topology", "--apply"], _database.ConnectionString, TestServers.RabbitMqUri.ToString(), binding);
            applied.ExitCode.Should().Be(0, applied.Error);
            applied.Output.Should().Contain("declared 2 exchange(s) and 1 queue(s)").And.Contain(extra);

            // Bound by the code (ticket.sold) and by configuration (refund.#); not bound: ticket.refunded.
            await channel.BasicPublishAsync(_exchange, "ticket.sold", mandatory: false, new BasicProperties(), "{}"u8.ToArray());
            await channel.BasicPublishAsync(extra, "refund.full", mandatory: false, new BasicProperties(), "{}"u8.ToArray());
            await channel.BasicPublishAsync(_exchange, "ticket.refunded", mandatory: false, new BasicProperties(), "{}"u8.ToArray());
            await WaitUntilAsync(async () => await channel.MessageCountAsync(queue) == 2, "the two bound messages are queued");

            // Applied again with messages waiting: the deploy-only bus declares and leaves them.
            var again = await RunAsync(["topology", "--apply"], _database.ConnectionString, TestServers.RabbitMqUri.ToString(), binding);
            again.ExitCode.Should().Be(0, again.Error);
            (await channel.MessageCountAsync(queue)).Should().Be(2, "topology --apply consumes nothing");
            (await ReceiptsAsync()).Should().Be(0);

            // A broker that does not answer: one line and exit code 3 once the wait is over.
            var unreachable = await RunAsync(["topology", "--apply", "--timeout", "3"], _database.ConnectionString, "amqp://guest:guest@127.0.0.1:1/");
            unreachable.ExitCode.Should().Be(3, unreachable.Output + unreachable.Error);
            unreachable.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Should().StartWith("error: the broker did not take the topology within 3 s");
        }
        finally
        {
            await RabbitMqAdmin.DeleteQueuesAsync(queue);
            foreach (var exchange in new[] { _exchange, extra, queue })
            {
                await channel.ExchangeDeleteAsync(exchange);
            }
        }
    }

    [Test]
    public async Task The_tool_works_on_a_database_it_is_given_only_a_connection_string_for()
    {
        await SellAsync(2);
        var settings = Path.Combine(Path.GetTempPath(), $"appsettings-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(settings, JsonSerializer.Serialize(new { ConnectionStrings = new { Shop = _database.ConnectionString } }));
        try
        {
            var byArgument = await RunToolAsync(["--connection", _database.ConnectionString, "outbox", "stats", "--json"]);
            byArgument.ExitCode.Should().Be(0, byArgument.Error);
            JsonDocument.Parse(byArgument.Output).RootElement.GetProperty("pending").GetInt32().Should().Be(2);

            var bySettings = await RunToolAsync(["--settings", settings, "--connection-name", "Shop", "outbox", "list", "--json"]);
            bySettings.ExitCode.Should().Be(0, bySettings.Error);
            JsonDocument.Parse(bySettings.Output).RootElement.GetArrayLength().Should().Be(2);

            var byEnvironment = await RunToolAsync(["inbox", "stats", "--json"], ("DOMAINEVENTS_CONNECTION", _database.ConnectionString));
            byEnvironment.ExitCode.Should().Be(0, byEnvironment.Error);

            var otherTable = await RunToolAsync(["--connection", _database.ConnectionString, "--outbox-table", "no_such_outbox", "outbox", "stats"]);
            otherTable.ExitCode.Should().Be(3, "the table it was told of is missing");
            otherTable.Error.Should().Contain("a table is missing");

            var none = await RunToolAsync(["outbox", "stats"]);
            none.ExitCode.Should().Be(2);
            none.Error.Should().Contain("no connection string");

            // Help is printed and the tool ends, with a connection string at hand too (it used to start an empty host and wait).
            var help = await RunToolAsync(["--help"], ("DOMAINEVENTS_CONNECTION", _database.ConnectionString));
            help.ExitCode.Should().Be(0, help.Error);
            help.Output.Should().Contain("usage: domainevents");

            // The commands' own help, which the usage points to, needs no connection string.
            var commandsHelp = await RunToolAsync(["outbox", "--help"]);
            commandsHelp.ExitCode.Should().Be(0, commandsHelp.Output + commandsHelp.Error);
            commandsHelp.Output.Should().Contain("purge").And.Contain("retry");
            var purgeHelp = await RunToolAsync(["outbox", "purge", "-h"]);
            purgeHelp.ExitCode.Should().Be(0, purgeHelp.Output + purgeHelp.Error);
            purgeHelp.Output.Should().Contain("--processed-before");
            var slashHelp = await RunToolAsync(["outbox", "list", "/?"]);
            slashHelp.ExitCode.Should().Be(0, slashHelp.Output + slashHelp.Error);
            slashHelp.Output.Should().Contain("--key");

            // "-h" as an option's value is a key to look for, not a help request: that needs a database.
            var keyNamedLikeHelp = await RunToolAsync(["outbox", "list", "--key", "-h"]);
            keyNamedLikeHelp.ExitCode.Should().Be(2, keyNamedLikeHelp.Output + keyNamedLikeHelp.Error);
            keyNamedLikeHelp.Error.Should().Contain("no connection string");

            // A SQLite file that is not there (named with Microsoft.Data.Sqlite's other key) is an error, not a new empty database.
            var missing = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.db");
            var mistyped = await RunToolAsync(["--connection", $"DataSource={missing}", "outbox", "stats"]);
            mistyped.ExitCode.Should().Be(3, mistyped.Output + mistyped.Error);
            mistyped.Error.Should().Contain("could not be used");
            File.Exists(missing).Should().BeFalse("the tool creates no database");
        }
        finally
        {
            File.Delete(settings);
        }
    }

    [Test]
    public async Task A_database_that_cannot_be_reached_is_one_line_naming_the_context_and_exit_code_3()
    {
        var unreachable = provider == DatabaseProvider.Sqlite
            ? "Data Source=/nonexistent-directory/shop.db"
            : "Host=127.0.0.1;Port=1;Username=postgres;Database=nowhere;Timeout=3";

        var result = await RunAsync(["outbox", "stats"], unreachable);

        result.ExitCode.Should().Be(3, result.Error + result.Output);
        result.Output.Should().BeEmpty();

        // Above it on standard error come the application's own logs (EF Core logs the failed query with its stack, on the
        // console logger's own thread); the host is disposed first, which flushes them, so ours is the last line.
        var ours = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        ours.Should().StartWith("error: ShopDbContext: the database could not be used").And.Contain("check the context's connection string");
    }

    [Test]
    public async Task A_database_that_does_not_answer_in_time_is_one_line_saying_so_and_exit_code_3()
    {
        await SellAsync(1);
        var deadId = await KillFirstRowAsync();

        // Another session holds the outbox table (PostgreSQL) or the database's write lock (SQLite) while the command would
        // make the dead row pending, with a one-second timeout.
        await using System.Data.Common.DbConnection holder = provider == DatabaseProvider.Sqlite
            ? new Microsoft.Data.Sqlite.SqliteConnection(_database.ConnectionString)
            : new Npgsql.NpgsqlConnection(_database.ConnectionString);
        await holder.OpenAsync();
        await using (var command = holder.CreateCommand())
        {
            command.CommandText = provider == DatabaseProvider.Sqlite ? "BEGIN IMMEDIATE" : "BEGIN; LOCK TABLE outbox_messages IN ACCESS EXCLUSIVE MODE";
            await command.ExecuteNonQueryAsync();
        }

        var impatient = _database.ConnectionString + (provider == DatabaseProvider.Sqlite ? ";Default Timeout=1" : ";Command Timeout=1");

        var result = await RunAsync(["outbox", "retry", "--dead", "--yes"], impatient);

        result.ExitCode.Should().Be(3, result.Error + result.Output);
        var ours = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        ours.Should().StartWith("error: ShopDbContext: the database did not answer in time").And.NotContain("check the context's connection string");
        if (provider == DatabaseProvider.PostgreSql)
        {
            // The server's own timeouts, with no client-side one: a lock timeout (55P03) and a statement timeout (57014).
            foreach (var setting in new[] { "lock_timeout", "statement_timeout" })
            {
                var server = await RunAsync(["outbox", "retry", "--dead", "--yes"], $"{_database.ConnectionString};Options=-c {setting}=300");
                server.ExitCode.Should().Be(3, setting + ": " + server.Error + server.Output);
                server.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Should().StartWith("error: ShopDbContext: the database did not answer in time", setting);
            }
        }

        await holder.CloseAsync();
        (await StatusOfAsync(deadId)).Should().Be(OutboxMessageStatus.Dead, "nothing of the retry was committed");
    }

    [Test]
    public async Task Relay_and_consume_as_two_processes_deliver_every_event_once_a_retried_dead_row_too_and_only_the_named_consumers_run()
    {
        var rabbit = TestServers.RabbitMqUri.ToString();
        (string, string?) audit = ("SHOP_AUDIT", "1");

        // The consumer process declares both queues, then stops: what the relay publishes meanwhile waits in them.
        var first = Start(["consume"], _database.ConnectionString, rabbit, audit);
        try
        {
            await WaitForLineAsync(first, "consume: running", TimeSpan.FromSeconds(30));
            first.Text(first.Output).Should().NotContain("OutboxRelay", "the consumer process runs no relay");
        }
        finally
        {
            await StopAllAsync(first);
        }

        // A row the relay gave up on, made pending again by id from the command line, goes out with the others.
        await SellAsync(1);
        var deadId = await KillFirstRowAsync();
        var deadTicket = await InScopeAsync(db => db.Tickets.Select(t => t.Id).SingleAsync());
        var retried = await RunAsync("outbox", "retry", deadId.ToString(), "--yes");
        retried.ExitCode.Should().Be(0, retried.Error);
        retried.Output.Should().Contain("1 row(s) pending again");

        var unknown = await RunAsync(["consume", "--consumer", "nobody"], _database.ConnectionString, rabbit, audit);
        unknown.ExitCode.Should().Be(2);
        unknown.Error.Should().Contain("nobody").And.Contain("TicketSoldConsumer").And.Contain("ticket-audit");

        RunningCommand? relay = null;
        RunningCommand? consume = null;
        try
        {
            relay = Start(["relay"], _database.ConnectionString, rabbit, audit);
            await WaitForLineAsync(relay, "relay: running", TimeSpan.FromSeconds(30));
            relay.Text(relay.Output).Should().Contain("OutboxRelay<ShopDbContext>").And.NotContain("InboxCleanupService");
            await SellAsync(20);
            await WaitUntilAsync(async () => await ProcessedAsync() == 21, "the relay publishes");
            await Task.Delay(1000);
            (await ReceiptsAsync()).Should().Be(0, "the relay process consumes nothing");

            consume = Start(["consume", "--consumer", "ticketsoldconsumer"], _database.ConnectionString, rabbit, audit);
            await WaitForLineAsync(consume, "consume: only ticketsoldconsumer", TimeSpan.FromSeconds(30));
            await WaitUntilAsync(async () => await ReceiptsAsync() >= 21, "the consumer process takes what waited");
            await SellAsync(5);
            await WaitUntilAsync(async () => await ReceiptsAsync() >= 26, "and what comes while both run");
        }
        finally
        {
            await StopAllAsync(relay, consume);
        }

        (await InScopeAsync(db => db.Receipts.Select(r => r.TicketId).Distinct().CountAsync())).Should().Be(26);
        (await ReceiptsAsync()).Should().Be(26, "each event's effect once");
        (await InScopeAsync(db => db.Receipts.CountAsync(r => r.TicketId == deadTicket))).Should().Be(1, "the retried row was delivered");
        (await InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.Status != OutboxMessageStatus.Processed))).Should().Be(0);
        (await InScopeAsync(db => db.Audits.CountAsync())).Should().Be(0, "the audit handler was not named, so it did not run");

        // Its messages waited in its queue for a process that runs it.
        var audits = Start(["consume", "--consumer", "ticket-audit"], _database.ConnectionString, rabbit, audit);
        try
        {
            await WaitUntilAsync(async () => await InScopeAsync(db => db.Audits.CountAsync()) >= 26, "the audit handler takes what waited for it");
        }
        finally
        {
            await StopAllAsync(audits);
        }

        (await InScopeAsync(db => db.Audits.Select(a => a.TicketId).Distinct().CountAsync())).Should().Be(26);
    }

    [Test]
    public async Task A_relay_stopped_by_SIGTERM_while_it_sends_exits_0_leaves_no_row_leased_and_the_next_relay_sends_the_rest_once()
    {
        const int Count = 1000;
        var rabbit = TestServers.RabbitMqUri.ToString();

        // Small batches sent one at a time, so that the relay is still sending when the signal comes.
        (string, string?)[] slow = [("DomainEvents__Relay__BatchSize", "10"), ("DomainEvents__Relay__MaxConcurrentSends", "1")];
        RunningCommand? consume = null;
        RunningCommand? relay = null;
        try
        {
            consume = Start(["consume"], _database.ConnectionString, rabbit);
            await WaitForLineAsync(consume, "consume: running", TimeSpan.FromSeconds(30));
            relay = Start(["relay"], _database.ConnectionString, rabbit, slow);
            await WaitForLineAsync(relay, "relay: running", TimeSpan.FromSeconds(30));
            await SellAsync(Count);

            // Stopped as soon as the first rows are out, while the relay holds batches it is sending.
            await WaitUntilAsync(async () => await ProcessedAsync() > 0, "the relay starts sending");
            var stopping = relay;
            relay = null;
            await StopAsync(stopping);
            var stopped = await InScopeAsync(db => db.Set<OutboxMessage>().GroupBy(m => m.Status).Select(g => new { g.Key, Count = g.Count() }).ToListAsync());
            stopped.Sum(s => s.Count).Should().Be(Count, "no row is lost");
            stopped.Should().NotContain(s => s.Key == OutboxMessageStatus.Dead);
            stopped.Single(s => s.Key == OutboxMessageStatus.Processed).Count.Should().BeLessThan(Count, "the relay was stopped while it was sending");
            (await InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.Status == OutboxMessageStatus.Pending && m.LeaseOwner != null)))
                .Should().Be(0, "a relay that stops sends or releases what it holds");

            relay = Start(["relay"], _database.ConnectionString, rabbit);
            await WaitUntilAsync(async () => await ProcessedAsync() == Count, "the next relay sends the rest");
            await WaitUntilAsync(async () => await ReceiptsAsync() >= Count, "every event is consumed");
        }
        finally
        {
            await StopAllAsync(relay, consume);
        }

        (await InScopeAsync(db => db.Receipts.Select(r => r.TicketId).Distinct().CountAsync())).Should().Be(Count);
        (await ReceiptsAsync()).Should().Be(Count, "each event's effect once");
    }

    /// <summary>Stops each process that was started (SIGTERM, exit 0 asserted); one that fails or hangs is killed, and the others are still stopped.</summary>
    private static async Task StopAllAsync(params RunningCommand?[] processes)
    {
        var failures = new List<Exception>();
        foreach (var running in processes.OfType<RunningCommand>())
        {
            try
            {
                await StopAsync(running);
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
            finally
            {
                if (!running.Process.HasExited)
                {
                    running.Process.Kill(entireProcessTree: true);
                }
            }
        }

        if (failures.Count > 0)
        {
            throw new AggregateException(failures);
        }
    }

    /// <summary>SIGTERM, as a container runtime stops a process: it must stop what it started and exit 0.</summary>
    private static async Task StopAsync(RunningCommand running)
    {
        using (var kill = Process.Start("kill", ["-TERM", running.Process.Id.ToString()]))
        {
            await kill!.WaitForExitAsync();
        }

        await ExitAsync(running, TimeSpan.FromSeconds(45), "the process did not stop within 45 s of SIGTERM");
        running.Process.ExitCode.Should().Be(0, running.Text(running.Output) + running.Text(running.Error));
        running.Text(running.Output).Should().Contain(": stopped.");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string because)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"within 60 s: {because}");
            }

            await Task.Delay(200);
        }
    }

    private async Task SellAsync(int count) =>
        await InScopeAsync(async db =>
        {
            db.Tickets.AddRange(Enumerable.Range(0, count).Select(_ => Ticket.Sell(DateTime.UtcNow.AddDays(1))));
            return await db.SaveChangesAsync();
        });

    private Task<int> ProcessedAsync() => InScopeAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.Status == OutboxMessageStatus.Processed));

    private Task<int> ReceiptsAsync() => InScopeAsync(db => db.Receipts.CountAsync());

    /// <summary>Makes the first outbox row dead, as after a broker that refused it every time.</summary>
    private Task<long> KillFirstRowAsync() =>
        InScopeAsync(async db =>
        {
            var first = await db.Set<OutboxMessage>().OrderBy(m => m.Id).FirstAsync();
            first.Status = OutboxMessageStatus.Dead;
            first.Attempts = 3;
            first.LastError = "The broker refused ticket.sold to 'shop' with 'ticket.sold': ACCESS_REFUSED";
            await db.SaveChangesAsync();
            return first.Id;
        });

    private Task<OutboxMessageStatus> StatusOfAsync(long id) => InScopeAsync(db => db.Set<OutboxMessage>().Where(m => m.Id == id).Select(m => m.Status).SingleAsync());

    private async Task<T> InScopeAsync<T>(Func<ShopDbContext, Task<T>> work)
    {
        await using var scope = _services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<ShopDbContext>());
    }

    private Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args) => RunAsync(args, _database.ConnectionString);

    private async Task<(int ExitCode, string Output, string Error)> RunAsync(string[] args, string connectionString, string? rabbitMq = null, params (string Name, string? Value)[] environment)
    {
        var running = Start(args, connectionString, rabbitMq, environment);
        await ExitAsync(running, TimeSpan.FromSeconds(60), $"'{string.Join(' ', args)}' did not end within 60 s");
        return (running.Process.ExitCode, running.Text(running.Output), running.Text(running.Error));
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunToolAsync(string[] args, params (string Name, string Value)[] environment)
    {
        var running = StartProcess("DomainEvents.Tool.dll", args, [("DOMAINEVENTS_CONNECTION", null), .. environment.Select(e => (e.Name, (string?)e.Value))]);
        await ExitAsync(running, TimeSpan.FromSeconds(60), $"'domainevents {string.Join(' ', args)}' did not end within 60 s");
        return (running.Process.ExitCode, running.Text(running.Output), running.Text(running.Error));
    }

    /// <summary>Waits for the process to end; one that has not ended in time is killed and fails the test with its output.</summary>
    private static async Task ExitAsync(RunningCommand running, TimeSpan within, string failure)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await running.Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            running.Process.Kill(entireProcessTree: true);
            Assert.Fail($"{failure}: {running.Text(running.Output)}{running.Text(running.Error)}");
        }

        // The parameterless wait also drains the redirected output.
        running.Process.WaitForExit();
    }

    private RunningCommand Start(string[] args, string connectionString, string? rabbitMq, params (string Name, string? Value)[] environment) =>
        StartProcess("DomainEvents.CommandHost.dll", args,
            [("SHOP_PROVIDER", ProviderName), ("SHOP_CONNECTION", connectionString), ("SHOP_EXCHANGE", _exchange), ("SHOP_RABBITMQ", rabbitMq), .. environment]);

    /// <summary>Starts one of the test's executables; an environment variable given as null is removed.</summary>
    private static RunningCommand StartProcess(string dll, string[] args, (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var process = Process.Start(start)!;
        var running = new RunningCommand(process);
        process.OutputDataReceived += (_, e) => running.Append(running.Output, e.Data);
        process.ErrorDataReceived += (_, e) => running.Append(running.Error, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return running;
    }

    private static async Task WaitForLineAsync(RunningCommand running, string text, TimeSpan within)
    {
        var until = DateTime.UtcNow + within;
        while (!running.Text(running.Output).Contains(text, StringComparison.Ordinal))
        {
            if (running.Process.HasExited || DateTime.UtcNow > until)
            {
                Assert.Fail($"'{text}' did not appear: {running.Text(running.Output)}{running.Text(running.Error)}");
            }

            await Task.Delay(100);
        }
    }

    private sealed class RunningCommand(Process process)
    {
        public Process Process { get; } = process;

        public System.Text.StringBuilder Output { get; } = new();

        public System.Text.StringBuilder Error { get; } = new();

        public string Text(System.Text.StringBuilder of)
        {
            lock (of)
            {
                return of.ToString();
            }
        }

        public void Append(System.Text.StringBuilder to, string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (to)
            {
                to.AppendLine(line);
            }
        }
    }
}
