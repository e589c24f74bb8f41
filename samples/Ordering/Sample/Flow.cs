using System.Globalization;
using System.Text;

namespace Ordering.Sample;

// Prints the sample's steps as they happen. The handler, the relay and the consumer run on different
// threads, so each step is written in one call.
public static class Flow
{
    public static void Step(string number, string actor, string text, params (string Label, object? Value)[] details)
    {
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{number,-3}{actor,-12} {text}").AppendLine();
        foreach (var (label, value) in details)
        {
            line.Append(CultureInfo.InvariantCulture, $"{"",16}{label,-14}{value}").AppendLine();
        }

        Console.Write(line.ToString());
    }
}
