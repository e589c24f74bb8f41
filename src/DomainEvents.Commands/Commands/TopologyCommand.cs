using System.CommandLine;
using DomainEvents.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace DomainEvents.Commands.Commands;

/// <summary><c>topology</c>: the exchanges, queues and bindings this host declares.</summary>
internal static class TopologyCommand
{
    public static Command Create(CommandContext context)
    {
        var apply = new Option<bool>("--apply") { Description = "Declare them on the broker now (RabbitMQ), consuming nothing: for a deployment step, or before the first producer runs." };
        var timeout = new Option<int>("--timeout")
        {
            Description = "With --apply: seconds to wait for the broker before giving up (exit code 3).",
            DefaultValueFactory = _ => (int)DefaultApplyTimeout.TotalSeconds,
        };
        timeout.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--timeout is a number of seconds, at least 1.");
            }
        });
        var command = new Command("topology", "Prints the exchanges, queues and bindings this host declares on the broker (the relay declares its exchanges at its first send, the consumers theirs at start).")
        {
            Shared.Json,
            apply,
            timeout,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            if (context.Services.GetService<IBrokerTopology>() is not { } topology)
            {
                context.Error.WriteLine("error: this host has no broker transport (AddMassTransitRelay or AddIntegrationEventConsumer).");
                return ExitCodes.Failed;
            }

            var description = topology.Describe();
            if (result.GetValue(apply) && await ApplyAsync(context, topology, TimeSpan.FromSeconds(result.GetValue(timeout)), cancellationToken).ConfigureAwait(false) is var code and not ExitCodes.Ok)
            {
                return code;
            }

            if (result.GetValue(Shared.Json))
            {
                Shared.WriteJson(context, description);
                return ExitCodes.Ok;
            }

            var exchanges = new Table().AddColumns("exchange", "type", "use");
            foreach (var e in description.Exchanges)
            {
                exchanges.AddRow(Markup.Escape(e.Name), e.Type, e.Use);
            }

            context.Console.Write(exchanges);
            var queues = new Table().AddColumns("queue", "consumer", "bindings", "order kept", "inbox");
            foreach (var q in description.Queues)
            {
                queues.AddRow(Markup.Escape(q.Name), Markup.Escape(q.Consumer), Markup.Escape(string.Join(", ", q.Bindings.Select(b => $"{b.Exchange} {b.Pattern}"))),
                    q.KeepOrder ? "yes" : "no", q.Inbox ? "yes" : "no");
            }

            context.Console.Write(queues);
            if (result.GetValue(apply))
            {
                context.WriteLine($"declared {description.Exchanges.Count} exchange(s) and {description.Queues.Count} queue(s) with their bindings on the broker.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<int> ApplyAsync(CommandContext context, IBrokerTopology topology, TimeSpan within, CancellationToken cancellationToken)
    {
        if (context.Services.GetRequiredService<HostRole>() is { Consulted: true })
        {
            context.Error.WriteLine("error: the bus was built before the command ran (something resolved it in Program.cs), so it would consume; run the command before resolving the bus.");
            return ExitCodes.Failed;
        }

        // Set before the bus is built: its receive endpoints then declare their topology and consume nothing.
        context.Services.GetRequiredService<HostRole>().DeploysTopologyOnly = true;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(within);
        try
        {
            await topology.ApplyAsync(timeout.Token).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (TopologyNotAppliedException ex)
        {
            context.Error.WriteLine($"error: {ex.Message}");
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            context.Error.WriteLine("error: cancelled; the topology may be declared in part (run the command again).");
            return ExitCodes.Failed;
        }
        catch (Exception ex)
        {
            // An unreachable broker, refused credentials, or an exchange that exists with another type.
            context.Error.WriteLine($"error: the broker did not take the topology within {within.TotalSeconds:0} s: {FirstLine(ex)}");
            return ExitCodes.Unavailable;
        }
    }

    private static readonly TimeSpan DefaultApplyTimeout = TimeSpan.FromSeconds(60);

    private static string FirstLine(Exception ex)
    {
        var innermost = ex;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        return $"{innermost.GetType().Name}: {innermost.Message.Split('\n')[0].Trim()}";
    }
}
