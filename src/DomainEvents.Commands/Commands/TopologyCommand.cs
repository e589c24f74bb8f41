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
        var command = new Command("topology", "Prints the exchanges, queues and bindings this host declares on the broker (the relay declares its exchanges at its first send, the consumers theirs at start).")
        {
            Shared.Json,
        };
        command.SetAction(result =>
        {
            if (context.Services.GetService<IBrokerTopology>() is not { } topology)
            {
                context.Error.WriteLine("error: this host has no broker transport (AddMassTransitRelay or AddIntegrationEventConsumer).");
                return ExitCodes.Failed;
            }

            var description = topology.Describe();
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
            return ExitCodes.Ok;
        });
        return command;
    }
}
