using System.CommandLine;
using System.Runtime.InteropServices;
using DomainEvents.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace DomainEvents.Commands.Commands;

/// <summary>
/// <c>relay</c> and <c>consume</c>: start only part of the host's background services, without the web server or the
/// application's other hosted services, until SIGTERM or Ctrl+C; then stop them in reverse order, so the relay finishes
/// or releases what it holds before the bus stops.
/// </summary>
internal static class RunCommands
{
    public static Command Relay(CommandContext context)
    {
        var command = new Command("relay", "Runs only the outbox relay(s) of this host, and its background work (clean-up, gauges, sweeps): no web server, no consumers.");
        command.SetAction((_, cancellationToken) =>
        {
            if (context.Services.GetService<HostRole>() is not { } role || context.OutboxContexts.Count == 0)
            {
                context.Error.WriteLine("error: this host has no outbox (AddEntityFrameworkOutbox) to relay.");
                return Task.FromResult(ExitCodes.Failed);
            }

            // Set before the bus is built: its consumers' endpoints are then not configured.
            role.RunsConsumers = false;
            return RunAsync(context, "relay", IsRelaySide, cancellationToken);
        });
        return command;
    }

    public static Command Consume(CommandContext context)
    {
        var command = new Command("consume", "Runs only the integration event consumers of this host (the bus and the inbox clean-up): no web server, no relay.");
        command.SetAction((_, cancellationToken) => RunAsync(context, "consume", IsConsumerSide, cancellationToken));
        return command;
    }

    private static bool IsBus(Type type) => type.Assembly.GetName().Name is { } name && name.StartsWith("MassTransit", StringComparison.Ordinal);

    private static bool IsOurs(Type type) => type.Namespace?.StartsWith("DomainEvents", StringComparison.Ordinal) == true;

    private static bool IsConsumerSide(Type type) => IsBus(type) || (IsOurs(type) && type.Namespace!.StartsWith("DomainEvents.MassTransit.Consumers", StringComparison.Ordinal));

    private static bool IsRelaySide(Type type) => IsBus(type) || (IsOurs(type) && !type.Namespace!.StartsWith("DomainEvents.MassTransit.Consumers", StringComparison.Ordinal));

    private static async Task<int> RunAsync(CommandContext context, string what, Func<Type, bool> runs, CancellationToken cancellationToken)
    {
        var services = context.Services.GetServices<IHostedService>().Where(s => runs(s.GetType())).ToList();
        if (services.Count == 0)
        {
            context.Error.WriteLine($"error: this host has nothing to run for '{what}'.");
            return ExitCodes.Failed;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        var started = new List<IHostedService>();
        try
        {
            foreach (var service in services)
            {
                await service.StartAsync(stop.Token).ConfigureAwait(false);
                started.Add(service);
            }

            context.WriteLine($"{what}: running {string.Join(", ", started.Select(s => Name(s.GetType())))}; SIGTERM or Ctrl+C stops it.");
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            context.Error.WriteLine($"error: {what} could not start: {ex.Message}");
            await StopAsync(started).ConfigureAwait(false);
            return ExitCodes.Unavailable;
        }

        await StopAsync(started).ConfigureAwait(false);
        context.WriteLine($"{what}: stopped.");
        return ExitCodes.Ok;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }
    }

    private static async Task StopAsync(List<IHostedService> started)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var i = started.Count - 1; i >= 0; i--)
        {
            await started[i].StopAsync(timeout.Token).ConfigureAwait(false);
        }
    }

    private static string Name(Type type) => type.IsGenericType ? $"{type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(", ", type.GetGenericArguments().Select(Name))}>" : type.Name;
}
