using System.CommandLine;
using System.Reflection;
using DomainEvents.EntityFrameworkCore.Backfill;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace DomainEvents.Commands.Commands;

/// <summary><c>backfill ENTITY</c>: runs the entity type's event sources over every stored entity.</summary>
internal static class BackfillCommand
{
    private static readonly MethodInfo Run = typeof(BackfillCommand).GetMethod(nameof(RunAsync), BindingFlags.NonPublic | BindingFlags.Static)!;

    public static Command Create(CommandContext context)
    {
        var entity = new Argument<string>("ENTITY") { Description = "The entity type's name, such as Challenge." };
        var resume = new Option<bool>("--from-checkpoint") { Description = "Continue an unfinished pass after its last committed page." };
        var pageSize = new Option<int>("--page-size") { Description = "Entities per page and transaction.", DefaultValueFactory = _ => 500 };
        var command = new Command("backfill", "Runs an entity type's event sources over every stored entity, in pages, resumable.") { entity, resume, pageSize, Shared.Context };
        command.SetAction((result, cancellationToken) =>
        {
            if (context.Pick(context.OutboxContexts, result.GetValue(Shared.Context), "outbox") is not { } contextType)
            {
                return Task.FromResult(ExitCodes.Failed);
            }

            return context.WithContextAsync(contextType, (db, _) =>
            {
                var name = result.GetValue(entity)!;
                var entityType = db.Model.GetEntityTypes().FirstOrDefault(e => !e.IsOwned() && string.Equals(e.ClrType.Name, name, StringComparison.OrdinalIgnoreCase));
                if (entityType is null)
                {
                    context.Error.WriteLine($"error: {contextType.Name} has no entity type named '{name}'.");
                    return Task.FromResult(ExitCodes.Failed);
                }

                var options = new BackfillOptions { Resume = result.GetValue(resume), PageSize = result.GetValue(pageSize) };
                return (Task<int>)Run.MakeGenericMethod(contextType, entityType.ClrType).Invoke(null, [context, options, cancellationToken])!;
            });
        });
        return command;
    }

    private static async Task<int> RunAsync<TContext, TEntity>(CommandContext context, BackfillOptions options, CancellationToken cancellationToken)
        where TContext : DbContext
        where TEntity : class
    {
        var backfill = context.Services.GetRequiredService<IEventSourceBackfill<TContext>>();
        try
        {
            BackfillProgress result;
            if (context.Console.Profile.Capabilities.Interactive)
            {
                result = await context.Console.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .StartAsync(async progress =>
                    {
                        var bar = progress.AddTask($"backfill {typeof(TEntity).Name}");
                        return await backfill.RunAsync<TEntity>(options, new Reporter(p =>
                        {
                            bar.MaxValue = Math.Max(1, p.EntitiesTotal);
                            bar.Value = p.EntitiesRead;
                            bar.Description = $"backfill {typeof(TEntity).Name}: {p.EntitiesRead}/{p.EntitiesTotal}, {p.EntitiesPerSecond:0}/s";
                        }), cancellationToken).ConfigureAwait(false);
                    }).ConfigureAwait(false);
            }
            else
            {
                // Redirected output: one plain line per page, no escape codes.
                result = await backfill.RunAsync<TEntity>(options, new Reporter(p =>
                    context.WriteLine($"read {p.EntitiesRead}/{p.EntitiesTotal}, produced {p.EventsProduced}, skipped {p.KeysSkipped}, {p.EntitiesPerSecond:0}/s" +
                                              (p.EstimatedRemaining is { } left && !p.Completed ? $", about {left.TotalSeconds:0} s left" : ""))), cancellationToken).ConfigureAwait(false);
            }

            context.WriteLine($"backfill {result.Name}: {result.EntitiesRead} entities read, {result.EventsProduced} events produced, " +
                                      $"{result.KeysSkipped} keys already handled, {result.EventsDispatched} dispatched, in {result.Elapsed.TotalSeconds:0.0} s");
            return ExitCodes.Ok;
        }
        catch (Exception ex) when (ex is BackfillAlreadyRunningException or BackfillNotPossibleException)
        {
            context.Error.WriteLine($"error: {ex.Message}");
            return ExitCodes.Failed;
        }
    }

    /// <summary>Reports on the backfill's own thread, in order.</summary>
    private sealed class Reporter(Action<BackfillProgress> report) : IProgress<BackfillProgress>
    {
        public void Report(BackfillProgress value) => report(value);
    }
}
