using FluentAssertions;
using Microsoft.Extensions.Hosting;

namespace DomainEvents.MassTransit.Tests;

/// <summary>Whether arguments ask for a command's help is what the command line reads, not a look for "-h" among them.</summary>
public sealed class AskingTheCommandsForHelp
{
    [TestCase("outbox --help")]
    [TestCase("outbox purge -h")]
    [TestCase("inbox stats -?")]
    [TestCase("outbox list /?")]
    [TestCase("outbox list /h")]
    [TestCase("domainevents --help")]
    [TestCase("relay --help")]
    [TestCase("outbox list --no-such-option -h")] // as the commands read it: help, and the unknown option is not an error then
    public void Help_is_asked_for(string args) =>
        DomainEventsCommandsHostExtensions.IsHelpRequest(args.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Should().BeTrue();

    [TestCase("")]
    [TestCase("--help")]
    [TestCase("serve --help")]
    [TestCase("outbox list --key -h")]
    [TestCase("outbox stats")]
    public void Help_is_not_asked_for(string args) =>
        DomainEventsCommandsHostExtensions.IsHelpRequest(args.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Should().BeFalse();
}
