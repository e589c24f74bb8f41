using Microsoft.Extensions.Logging;

namespace Ordering.Sample;

// Shows what the application's handler and Billing's consumer log as steps of the walkthrough. They log as any
// service does (ILogger); only this sample turns their lines into steps.
public sealed class StepLoggerProvider : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) =>
        new StepLogger(categoryName.StartsWith("Billing", StringComparison.Ordinal) ? "billing" : "application");

    public void Dispose()
    {
    }

    private sealed class StepLogger(string actor) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Flow.Step(actor, formatter(state, exception));
            }
        }
    }
}
