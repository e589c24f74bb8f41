using DomainEvents.Tests.Support;

namespace DomainEvents.Tests.Aggregates;

public sealed class RaisingDomainEvents
{
    [Test]
    public void A_new_aggregate_has_no_events() =>
        new RecordingAggregate().DomainEvents.Should().BeEmpty();

    [Test]
    public void Events_are_listed_in_the_order_they_were_raised()
    {
        var aggregate = new RecordingAggregate();
        var first = new Noted("first");
        var second = new Noted("second");
        var third = new Noted("third");

        aggregate.RaiseEvent(first);
        aggregate.RaiseEvent(second);
        aggregate.RaiseEvent(third);

        aggregate.DomainEvents.Should().HaveCount(3);
        aggregate.DomainEvents[0].Should().BeSameAs(first);
        aggregate.DomainEvents[1].Should().BeSameAs(second);
        aggregate.DomainEvents[2].Should().BeSameAs(third);
    }

    [Test]
    public void The_same_instance_raised_twice_is_listed_twice()
    {
        var aggregate = new RecordingAggregate();
        var noted = new Noted("again");

        aggregate.RaiseEvent(noted);
        aggregate.RaiseEvent(noted);

        aggregate.DomainEvents.Should().HaveCount(2).And.OnlyContain(e => ReferenceEquals(e, noted));
    }

    [Test]
    public void Raising_null_is_rejected()
    {
        var aggregate = new RecordingAggregate();

        var act = () => aggregate.RaiseEvent(null!);

        act.Should().Throw<ArgumentNullException>();
        aggregate.DomainEvents.Should().BeEmpty();
    }
}
