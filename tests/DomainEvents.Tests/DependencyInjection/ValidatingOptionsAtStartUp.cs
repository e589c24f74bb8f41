using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents.Tests.DependencyInjection;

public sealed class ValidatingOptionsAtStartUp
{
    [TestCase(0)]
    [TestCase(-1)]
    public void MaxCascadeDepth_below_1_throws_ArgumentOutOfRangeException(int depth)
    {
        var services = new ServiceCollection();

        var act = () => services.AddDomainEvents(o => o.MaxCascadeDepth = depth);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(DomainEventsOptions.MaxCascadeDepth));
    }

    [Test]
    public void MaxPayloadBytes_of_0_throws_ArgumentOutOfRangeException()
    {
        var services = new ServiceCollection();

        var act = () => services.AddDomainEvents(o => o.MaxPayloadBytes = 0);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(DomainEventsOptions.MaxPayloadBytes));
    }

    [Test]
    public void MaxCascadeDepth_of_1_is_accepted_and_kept()
    {
        var services = new ServiceCollection();

        var builder = services.AddDomainEvents(o => o.MaxCascadeDepth = 1);

        builder.Options.MaxCascadeDepth.Should().Be(1);
        builder.Services.Should().BeSameAs(services);
    }

    [Test]
    public void Defaults_are_the_documented_constants()
    {
        var options = new ServiceCollection().AddDomainEvents().Options;

        options.MaxCascadeDepth.Should().Be(DomainEventsOptions.DefaultMaxCascadeDepth).And.Be(8);
        options.MaxPayloadBytes.Should().Be(DomainEventsOptions.DefaultMaxPayloadBytes).And.Be(256 * 1024);
    }
}
