using System.Diagnostics;
using DomainEvents.EntityFrameworkCore.Backfill;
using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.FaultRelay;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.FaultTests;

/// <summary>
/// A backfill as a process of its own, killed with SIGKILL half way through 20,000 entities, then run again from its
/// checkpoint: every key is handled exactly once (the handler's effect has no unique key, so a second handling would
/// show), and a further full pass handles none.
/// </summary>
[TestFixture(DatabaseProvider.PostgreSql)]
[TestFixture(DatabaseProvider.Sqlite)]
[Category("Faults")]
[Category("Integration")]
[NonParallelizable]
public sealed class KillingABackfill(DatabaseProvider provider)
{
    private const int Trials = 20_000;

    [Test]
    public async Task A_backfill_killed_half_way_and_resumed_handles_every_key_exactly_once_and_a_further_pass_handles_none()
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var providerName = provider == DatabaseProvider.Sqlite ? "sqlite" : "postgres";
        await StoreTrialsAsync(providerName, database.ConnectionString);

        // The process reads the trials in pages of 250, each in its own transaction; it is killed once half are read.
        var clock = Stopwatch.StartNew();
        var process = StartBackfill(providerName, database.ConnectionString, out var output);
        await using var services = BackfillProcess.Services(providerName, database.ConnectionString, sources: true);
        EventSourceCheckpoint? atKill = null;
        var until = DateTime.UtcNow.AddMinutes(2);
        while (atKill is null && !process.HasExited && DateTime.UtcNow < until)
        {
            var checkpoint = await InScopeAsync(services, db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleOrDefaultAsync());
            if (checkpoint?.EntitiesRead >= Trials / 2)
            {
                process.Kill();
                await process.WaitForExitAsync();
                atKill = await InScopeAsync(services, db => db.Set<EventSourceCheckpoint>().AsNoTracking().SingleAsync());
            }
            else
            {
                await Task.Delay(20);
            }
        }

        atKill.Should().NotBeNull($"the backfill process is killed half way (it exited: {process.HasExited}; its output: {output})");
        atKill!.CompletedAt.Should().BeNull("it was killed before the end");
        atKill.EntitiesRead.Should().BeLessThan(Trials);
        var effectsAtKill = await InScopeAsync(services, db => db.Effects.CountAsync());
        effectsAtKill.Should().Be((int)atKill.EntitiesRead / 2, "each committed page holds its effects, and the killed page none");
        var killedAfter = clock.Elapsed;

        // Run again from the checkpoint, once the killed run's lease has run out.
        var reports = new List<BackfillProgress>();
        var resumed = await RunWhenFreeAsync(services, new BackfillOptions { PageSize = BackfillProcess.PageSize, Resume = true }, reports);
        reports[0].EntitiesRead.Should().Be(atKill.EntitiesRead + BackfillProcess.PageSize, "the resumed run continues after the last committed page");
        resumed.Should().BeEquivalentTo(new { EntitiesRead = Trials, EventsProduced = Trials / 2, KeysSkipped = 0, Completed = true });
        (await InScopeAsync(services, db => db.Effects.CountAsync())).Should().Be(Trials / 2, "every ended trial was handled once");
        (await InScopeAsync(services, db => db.Effects.Select(e => e.TrialId).Distinct().CountAsync())).Should().Be(Trials / 2);
        (await InScopeAsync(services, db => db.Set<HandledEventKey>().CountAsync())).Should().Be(Trials / 2);
        var resumedAfter = clock.Elapsed;

        var again = await services.GetRequiredService<IEventSourceBackfill<TrialDbContext>>().RunAsync<Trial>(new BackfillOptions { PageSize = BackfillProcess.PageSize });
        again.Should().BeEquivalentTo(new { EntitiesRead = Trials, EventsProduced = Trials / 2, KeysSkipped = Trials / 2, EventsDispatched = 0, Completed = true });
        (await InScopeAsync(services, db => db.Effects.CountAsync())).Should().Be(Trials / 2, "a further pass handles no key again");
        TestContext.Progress.WriteLine(
            $"backfill on {provider}: killed at {atKill.EntitiesRead} of {Trials} after {killedAfter.TotalSeconds:0.0} s; resumed to the end in " +
            $"{(resumedAfter - killedAfter).TotalSeconds:0.0} s (lease wait included); a further full pass in {again.Elapsed.TotalSeconds:0.0} s, " +
            $"{again.EntitiesPerSecond:0} entities/s, {again.KeysSkipped} keys skipped");
    }

    /// <summary>Stores the trials without their source, as if they were stored before it existed; every other one has ended.</summary>
    private static async Task StoreTrialsAsync(string providerName, string connectionString)
    {
        await using var services = BackfillProcess.Services(providerName, connectionString, sources: false);
        await InScopeAsync(services, db => db.Database.EnsureCreatedAsync());
        var now = DateTime.UtcNow;
        foreach (var chunk in Enumerable.Range(1, Trials).Chunk(5_000))
        {
            await InScopeAsync(services, async db =>
            {
                db.Trials.AddRange(chunk.Select(i => new Trial { Id = i, EndsAt = i % 2 == 0 ? now.AddDays(-1) : now.AddDays(1) }));
                return await db.SaveChangesAsync();
            });
        }
    }

    private static Process StartBackfill(string providerName, string connectionString, out System.Text.StringBuilder output)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "DomainEvents.FaultRelay.dll"), "backfill", providerName, connectionString })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the backfill process.");
        var lines = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => AppendLast(lines, e.Data);
        process.ErrorDataReceived += (_, e) => AppendLast(lines, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        output = lines;
        return process;
    }

    private static void AppendLast(System.Text.StringBuilder lines, string? line)
    {
        lock (lines)
        {
            if (lines.Length > 4_000)
            {
                lines.Remove(0, lines.Length - 2_000);
            }

            lines.AppendLine(line);
        }
    }

    private static async Task<BackfillProgress> RunWhenFreeAsync(IServiceProvider services, BackfillOptions options, List<BackfillProgress> reports)
    {
        var until = DateTime.UtcNow + BackfillProcess.LeaseDuration + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                return await services.GetRequiredService<IEventSourceBackfill<TrialDbContext>>().RunAsync<Trial>(options, new ListProgress(reports));
            }
            catch (BackfillAlreadyRunningException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(250);   // the killed run's lease
            }
        }
    }

    private static async Task<T> InScopeAsync<T>(IServiceProvider services, Func<TrialDbContext, Task<T>> work)
    {
        await using var scope = services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<TrialDbContext>());
    }

    private sealed class ListProgress(List<BackfillProgress> reports) : IProgress<BackfillProgress>
    {
        public void Report(BackfillProgress value) => reports.Add(value);
    }
}
