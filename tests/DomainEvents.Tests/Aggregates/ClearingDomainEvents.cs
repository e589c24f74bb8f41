using DomainEvents.Tests.Support;

namespace DomainEvents.Tests.Aggregates;

public sealed class ClearingDomainEvents
{
    [Test]
    public void ClearDomainEvents_discards_every_event()
    {
        var aggregate = new RecordingAggregate();
        aggregate.RaiseEvent(new Noted("a"));
        aggregate.RaiseEvent(new Noted("b"));

        aggregate.ClearDomainEvents();

        aggregate.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public void Events_raised_after_clearing_are_recorded_afresh()
    {
        var aggregate = new RecordingAggregate();
        aggregate.RaiseEvent(new Noted("before"));
        aggregate.ClearDomainEvents();
        var after = new Noted("after");

        aggregate.RaiseEvent(after);

        aggregate.DomainEvents.Should().ContainSingle().Which.Should().BeSameAs(after);
    }
}
