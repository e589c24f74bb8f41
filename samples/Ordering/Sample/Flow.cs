using System.Globalization;
using System.Text;

namespace Ordering.Sample;

// Prints the sample's steps as they happen. The handler, the relay and the consumer run on different
// threads, so each step is written in one call.
public static class Flow
{
    private static readonly Lock Gate = new();

    public static void Step(string actor, string text, params (string Label, object? Value)[] details)
    {
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{actor,-12} {text}").AppendLine();
        foreach (var (label, value) in details)
        {
            line.Append(CultureInfo.InvariantCulture, $"{"",13}{label,-14}{value}").AppendLine();
        }

        lock (Gate)
        {
            Console.Write(line.ToString());
        }
    }
}
