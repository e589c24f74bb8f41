using System.CommandLine;
using System.Runtime.InteropServices;
using DomainEvents.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DomainEvents.Commands.Commands;

/// <summary>
/// <c>relay</c> and <c>consume</c>: start only part of the host's background services, without the web server or the
/// application's other hosted services, until SIGTERM or Ctrl+C. They go through the host's own lifecycle: every
/// service is told it is stopping (the relay then finishes or releases what it holds, while the bus still runs)
/// before any is stopped, in reverse order.
/// </summary>
internal static class RunCommands
{
    /// <summary>As long as the host's default shutdown timeout gives its services.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    private static readonly HashSet<string> OurAssemblies = new(StringComparer.Ordinal)
    {
        "DomainEvents", "DomainEvents.EntityFrameworkCore", "DomainEvents.MassTransit", "DomainEvents.CloudEvents", "DomainEvents.PostgreSql",
    };

    public static Command Relay(CommandContext context)
    {
        var command = new Command("relay", "Runs only the outbox relay(s) of this host, and its background work (clean-up, gauges, sweeps): no web server, no integration event consumers.");
        command.SetAction((_, cancellationToken) =>
        {
            if (context.Services.GetService<HostRole>() is not { } role || context.OutboxContexts.Count == 0)
            {
                context.Error.WriteLine("error: this host has no outbox (AddEntityFrameworkOutbox) to relay.");
                return Task.FromResult(ExitCodes.Failed);
            }

            if (role.Consulted)
            {
                context.Error.WriteLine("error: the bus was built before the command ran (something resolved it in Program.cs), so its consumers cannot be left out; run the command before resolving the bus.");
                return Task.FromResult(ExitCodes.Failed);
            }

            // Set before the bus is built: the integration event consumers' endpoints are then not configured.
            role.RunsConsumers = false;
            return RunAsync(context, "relay", IsRelaySide, cancellationToken);
        });
        return command;
    }

    public static Command Consume(CommandContext context)
    {
        var only = new Option<string[]>("--consumer")
        {
            Description = "Run only this consumer (its name: the class name, or the handler's); repeat for several. Default: all of them.",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("consume", "Runs only the integration event consumers of this host (the bus and the inbox clean-up): no web server, no relay.") { only };
        command.SetAction((result, cancellationToken) =>
        {
            var names = result.GetValue(only) ?? [];
            if (names.Length > 0)
            {
                var consumers = context.Services.GetService<IBrokerTopology>()?.Describe().Queues.Select(q => q.Consumer).ToList() ?? [];
                if (names.FirstOrDefault(n => !consumers.Contains(n, StringComparer.OrdinalIgnoreCase)) is { } unknown)
                {
                    context.Error.WriteLine($"error: --consumer {unknown}: this host has no such consumer; it has {(consumers.Count == 0 ? "none" : string.Join(", ", consumers))}.");
                    return Task.FromResult(ExitCodes.Usage);
                }

                if (context.Services.GetService<HostRole>() is not { } role)
                {
                    context.Error.WriteLine("error: this host's transport registers no HostRole, so it cannot leave consumers out.");
                    return Task.FromResult(ExitCodes.Failed);
                }

                if (role.Consulted)
                {
                    context.Error.WriteLine("error: the bus was built before the command ran (something resolved it in Program.cs), so its other consumers cannot be left out; run the command before resolving the bus.");
                    return Task.FromResult(ExitCodes.Failed);
                }

                // Set before the bus is built: the other consumers' endpoints are then not configured.
                role.OnlyConsumers.UnionWith(names);
                context.WriteLine($"consume: only {string.Join(", ", names)}");
            }

            return RunAsync(context, "consume", IsConsumerSide, cancellationToken);
        });
        return command;
    }

    /// <summary>MassTransit's hosted service, which starts the bus (and only that of MassTransit's).</summary>
    private static bool IsBus(Type type) => type.Name == "MassTransitHostedService" && type.Assembly.GetName().Name == "MassTransit";

    private static bool IsOurs(Type type) => OurAssemblies.Contains(type.Assembly.GetName().Name ?? "");

    private static bool IsConsumerWork(Type type) => type.Namespace?.StartsWith("DomainEvents.MassTransit.Consumers", StringComparison.Ordinal) == true;

    private static bool IsConsumerSide(Type type) => IsBus(type) || (IsOurs(type) && IsConsumerWork(type));

    private static bool IsRelaySide(Type type) => IsBus(type) || (IsOurs(type) && !IsConsumerWork(type));

    private static async Task<int> RunAsync(CommandContext context, string what, Func<Type, bool> runs, CancellationToken cancellationToken)
    {
        List<IHostedService> services;
        try
        {
            services = [.. context.Services.GetServices<IHostedService>().Where(s => runs(s.GetType()))];
        }
        catch (Exception ex)
        {
            context.Error.WriteLine($"error: {what}: the host's services could not be created: {ex.GetType().Name}: {ex.Message}");
            return ExitCodes.Failed;
        }

        if (services.Count == 0)
        {
            context.Error.WriteLine($"error: this host has nothing to run for '{what}'.");
            return ExitCodes.Failed;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        var started = new List<IHostedService>();
        var exit = ExitCodes.Ok;
        try
        {
            foreach (var service in services)
            {
                if (service is IHostedLifecycleService lifecycle)
                {
                    await lifecycle.StartingAsync(CancellationToken.None).ConfigureAwait(false);
                }

                await service.StartAsync(CancellationToken.None).ConfigureAwait(false);
                started.Add(service);
            }

            foreach (var lifecycle in started.OfType<IHostedLifecycleService>())
            {
                await lifecycle.StartedAsync(CancellationToken.None).ConfigureAwait(false);
            }

            context.WriteLine($"{what}: running {string.Join(", ", started.Select(s => Name(s.GetType())))}; SIGTERM or Ctrl+C stops it.");

            // Until a signal, or until a background service ends with an error (it would not do its work any more).
            var failing = started.OfType<BackgroundService>().Where(s => s.ExecuteTask is not null).Select(s => s.ExecuteTask!).ToList();
            var signalled = Task.Delay(Timeout.Infinite, stop.Token);
            var ended = await Task.WhenAny(failing.Select(t => t.ContinueWith(_ => t, TaskScheduler.Default).Unwrap()).Append(signalled)).ConfigureAwait(false);
            if (ended != signalled && ended.IsFaulted)
            {
                context.Error.WriteLine($"error: {what}: a service stopped with an error: {ended.Exception!.GetBaseException().Message}");
                exit = ExitCodes.Failed;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            context.Error.WriteLine($"error: {what} could not start: {ex.GetType().Name}: {ex.Message}");
            exit = ExitCodes.Failed;
        }

        await StopAsync(context, started).ConfigureAwait(false);
        context.WriteLine($"{what}: stopped.");
        return exit;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }
    }

    /// <summary>As the host stops: every service told it is stopping first, then each stopped in reverse order, then told it has stopped.</summary>
    private static async Task StopAsync(CommandContext context, List<IHostedService> started)
    {
        using var limit = new CancellationTokenSource(ShutdownTimeout);
        var reversed = Enumerable.Reverse(started).ToList();
        foreach (var lifecycle in reversed.OfType<IHostedLifecycleService>())
        {
            await Quietly(context, () => lifecycle.StoppingAsync(limit.Token)).ConfigureAwait(false);
        }

        foreach (var service in reversed)
        {
            await Quietly(context, () => service.StopAsync(limit.Token)).ConfigureAwait(false);
        }

        foreach (var lifecycle in reversed.OfType<IHostedLifecycleService>())
        {
            await Quietly(context, () => lifecycle.StoppedAsync(limit.Token)).ConfigureAwait(false);
        }
    }

    private static async Task Quietly(CommandContext context, Func<Task> stop)
    {
        try
        {
            await stop().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            context.Error.WriteLine($"warning: stopping: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private static string Name(Type type) => type.IsGenericType ? $"{type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(", ", type.GetGenericArguments().Select(Name))}>" : type.Name;
}
