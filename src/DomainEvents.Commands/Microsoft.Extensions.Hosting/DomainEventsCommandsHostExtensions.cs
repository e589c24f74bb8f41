using System.CommandLine;
using System.Runtime.InteropServices;
using DomainEvents.Commands.Commands;
using Spectre.Console;

namespace Microsoft.Extensions.Hosting;

/// <summary>Makes your host's own executable understand the DomainEvents commands.</summary>
public static class DomainEventsCommandsHostExtensions
{
    /// <summary>The first words that are commands; anything else runs the host as usual.</summary>
    private static readonly HashSet<string> Commands = new(StringComparer.Ordinal) { "relay", "consume", "outbox", "inbox", "backfill", "publish", "topology", "domainevents" };

    /// <summary>
    /// Runs a DomainEvents command when the first argument names one (<c>relay</c>, <c>consume</c>, <c>outbox</c>,
    /// <c>inbox</c>, <c>backfill</c>, <c>publish</c>, <c>topology</c>; <c>domainevents --help</c> lists them), otherwise runs the host as
    /// <c>RunAsync</c> does. Call it instead of <c>app.Run()</c>: <c>return await app.RunWithDomainEventsCommandsAsync(args);</c>.
    /// Like <c>RunAsync</c>, it disposes the host when it returns. A short command's messages on standard error come after
    /// the host's own logs (which are flushed when the host is disposed), so its one-line error is the last line; those of
    /// <c>relay</c> and <c>consume</c> are written as they happen.
    /// Exit codes: 0 done; 1 the command failed (nothing found, refused, a service that could not start); 2 a usage error
    /// or an unconfirmed change; 3 the database could not be reached or lacks a table.
    /// </summary>
    /// <param name="host">The built host, not started.</param>
    /// <param name="args">The process's arguments.</param>
    /// <param name="cancellationToken">Stops a running command.</param>
    /// <returns>The exit code.</returns>
    public static Task<int> RunWithDomainEventsCommandsAsync(this IHost host, string[] args, CancellationToken cancellationToken = default) =>
        RunWithDomainEventsCommandsAsync(host, args, AnsiConsole.Console, Console.Error, cancellationToken);

    internal static async Task<int> RunWithDomainEventsCommandsAsync(IHost host, string[] args, IAnsiConsole console, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || !Commands.Contains(args[0]))
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        // The error lines of a short command wait until the host is disposed: the console logger writes on a thread of its
        // own, and an application's log of the same failure (EF Core logs a failed query with its stack) would otherwise come
        // after them. Those of `relay` and `consume`, which run until stopped, are written as they happen.
        var command = args[0] == "domainevents" && args.Length > 1 ? args[1] : args[0];
        var messages = command is "relay" or "consume" ? null : new StringWriter();
        try
        {
            return await RunCommandAsync(host, args, console, messages ?? error, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // On another thread: a service whose Dispose blocks would otherwise hold this one before the bound is reached.
            var disposal = Task.Run(() => DisposeAsync(host), CancellationToken.None);
            if (await Task.WhenAny(disposal, Task.Delay(DisposeTimeout, CancellationToken.None)).ConfigureAwait(false) != disposal)
            {
                await error.WriteLineAsync($"warning: the host did not dispose within {DisposeTimeout.TotalSeconds:0} s.").ConfigureAwait(false);
                _ = disposal.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
            else if (disposal.Exception?.GetBaseException() is { } failure)
            {
                await error.WriteLineAsync($"warning: the host did not dispose cleanly: {failure.GetType().Name}: {failure.Message}").ConfigureAwait(false);
            }

            if (messages is not null)
            {
                await error.WriteAsync(messages.ToString()).ConfigureAwait(false);
            }

            await error.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>How long the host's disposal may take before a command's lines are written anyway.</summary>
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(10);

    private static async Task DisposeAsync(IHost host)
    {
        if (host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            host.Dispose();
        }
    }

    /// <summary>
    /// Whether <paramref name="args"/> name a DomainEvents command and ask for its help (<c>--help</c>, <c>-h</c>, <c>-?</c>,
    /// <c>/h</c> or <c>/?</c> where the command line reads it as such, not as an option's value). Such a request needs
    /// no database: an application that cannot build its host without a connection string can check this first, and build
    /// it on any connection string that is never opened.
    /// </summary>
    /// <param name="args">The process's arguments, as given to <see cref="RunWithDomainEventsCommandsAsync(IHost, string[], CancellationToken)"/>.</param>
    /// <returns><see langword="true"/> when the arguments ask for a command's help, hold no usage error, and nothing else runs.</returns>
    public static bool IsHelpRequest(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || !Commands.Contains(args[0]))
        {
            return false;
        }

        // With a usage error beside it, the command reports the error, not the help.
        var parsed = Parse(new CommandContext(null, AnsiConsole.Console, TextWriter.Null), args);
        return parsed.Errors.Count == 0 && parsed.Action is System.CommandLine.Help.HelpAction;
    }

    private static ParseResult Parse(CommandContext context, string[] args)
    {
        var root = new RootCommand("DomainEvents commands, run in this application's host with its configuration.")
        {
            RunCommands.Relay(context),
            RunCommands.Consume(context),
            OutboxCommands.Create(context),
            InboxCommands.Create(context),
            BackfillCommand.Create(context),
            PublishCommand.Create(context),
            TopologyCommand.Create(context),
        };
        return root.Parse(args[0] == "domainevents" ? args[1..] : args);
    }

    private static async Task<int> RunCommandAsync(IHost host, string[] args, IAnsiConsole console, TextWriter error, CancellationToken cancellationToken)
    {
        var parsed = Parse(new CommandContext(host, console, error), args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                await error.WriteLineAsync($"error: {problem.Message}").ConfigureAwait(false);
            }

            await error.WriteLineAsync("See --help.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        // `relay` and `consume` stop on SIGTERM and Ctrl+C themselves, with their drain. Every other command is told through
        // its token, so that it ends its own way (a backfill gives its checkpoint back for --from-checkpoint; a purge keeps
        // what it deleted): the first signal asks, a second one ends the process as usual.
        var command = args[0] == "domainevents" && args.Length > 1 ? args[1] : args[0];
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var term = command is "relay" or "consume" ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        using var interrupt = command is "relay" or "consume" ? null : PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        try
        {
            // Our own handling of failures (one line, a documented exit code), and no time limit on a relay's drain after SIGTERM.
            var invocation = new InvocationConfiguration { Output = console.Profile.Out.Writer, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
            return await parsed.InvokeAsync(invocation, interrupted.Token).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            await error.WriteLineAsync(cancellationToken.IsCancellationRequested
                ? "error: stopped before the command was done; what it committed stays."
                : "error: interrupted (Ctrl+C or SIGTERM) before the command was done; what it committed stays.").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        catch (Exception ex)
        {
            await error.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }

        void Interrupt(PosixSignalContext signal)
        {
            // Runs on a thread of its own, and may run as the command returns and its token source is disposed: the signal
            // then ends the process as usual.
            try
            {
                if (interrupted.IsCancellationRequested)
                {
                    return;
                }

                interrupted.Cancel();
                signal.Cancel = true;
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
