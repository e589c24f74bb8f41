using DomainEvents.Tests.Support;

namespace DomainEvents.Tests.Aggregates;

public sealed class RemovingDispatchedDomainEvents
{
    [Test]
    public void Only_the_given_instances_are_removed_and_equal_valued_events_raised_later_stay()
    {
        var aggregate = new RecordingAggregate();
        var dispatched = new Noted("shipped");
        var other = new Noted("paid");
        aggregate.RaiseEvent(dispatched);
        aggregate.RaiseEvent(other);
        var raisedLater = new Noted("shipped");
        aggregate.RaiseEvent(raisedLater);
        raisedLater.Should().Be(dispatched, "the test needs two equal records that are different instances");

        aggregate.RemoveDomainEvents([dispatched]);

        aggregate.DomainEvents.Should().HaveCount(2);
        aggregate.DomainEvents[0].Should().BeSameAs(other);
        aggregate.DomainEvents[1].Should().BeSameAs(raisedLater);
    }

    [Test]
    public void Removing_the_live_event_list_removes_every_event()
    {
        var aggregate = new RecordingAggregate();
        aggregate.RaiseEvent(new Noted("a"));
        aggregate.RaiseEvent(new Noted("b"));

        aggregate.RemoveDomainEvents(aggregate.DomainEvents);

        aggregate.DomainEvents.Should().BeEmpty();
    }

    [Test]
    public void Removing_a_snapshot_of_the_events_leaves_only_those_raised_after_it()
    {
        var aggregate = new RecordingAggregate();
        aggregate.RaiseEvent(new Noted("a"));
        aggregate.RaiseEvent(new Noted("b"));
        var snapshot = aggregate.DomainEvents.ToList();
        var raisedDuringDispatch = new Noted("c");
        aggregate.RaiseEvent(raisedDuringDispatch);

        aggregate.RemoveDomainEvents(snapshot);

        aggregate.DomainEvents.Should().ContainSingle().Which.Should().BeSameAs(raisedDuringDispatch);
    }

    [Test]
    public void An_equal_valued_instance_that_was_never_raised_removes_nothing()
    {
        var aggregate = new RecordingAggregate();
        var raised = new Noted("shipped");
        aggregate.RaiseEvent(raised);

        aggregate.RemoveDomainEvents([new Noted("shipped")]);

        aggregate.DomainEvents.Should().ContainSingle().Which.Should().BeSameAs(raised);
    }

    [Test]
    public void An_instance_raised_twice_and_given_once_is_removed_once()
    {
        var aggregate = new RecordingAggregate();
        var noted = new Noted("twice");
        aggregate.RaiseEvent(noted);
        aggregate.RaiseEvent(noted);

        aggregate.RemoveDomainEvents([noted]);

        aggregate.DomainEvents.Should().ContainSingle().Which.Should().BeSameAs(noted);
    }

    [Test]
    public void A_null_list_is_rejected()
    {
        var aggregate = new RecordingAggregate();

        var act = () => aggregate.RemoveDomainEvents(null!);

        act.Should().Throw<ArgumentNullException>();
    }
}
