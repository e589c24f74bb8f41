using DomainEvents.MassTransit.Consumers;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The order filter's sequencer on its own: deliveries register in any order (workers race to the filter), and a turn
/// may run only when every earlier delivery has registered and every earlier turn of its key is done.
/// </summary>
public sealed class SequencingDeliveriesByKey
{
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void Turns_run_per_key_in_tag_order_whatever_the_order_deliveries_register_in(int seed)
    {
        var random = new Random(seed);
        const int deliveries = 400;
        var keys = Enumerable.Range(1, deliveries).ToDictionary(t => (ulong)t, _ => random.Next(6) == 0 ? null : $"key-{random.Next(8)}");
        var order = Enumerable.Range(1, deliveries).Select(t => (ulong)t).OrderBy(_ => random.Next()).ToList();
        var sequencer = new PartitionOrderFilter.Sequencer();
        var registered = new HashSet<ulong>();
        var turns = new Dictionary<ulong, PartitionOrderFilter.Turn>();
        var done = new HashSet<ulong>();

        while (done.Count < deliveries)
        {
            // Either the next delivery reaches the filter, or one ready turn finishes.
            var ready = turns.Values.Where(t => t.Ready.Task.IsCompleted && !done.Contains(t.Tag)).ToList();
            if (order.Count > 0 && (ready.Count == 0 || random.Next(2) == 0))
            {
                var tag = order[0];
                order.RemoveAt(0);
                registered.Add(tag);
                turns[tag] = sequencer.Register(tag, keys[tag]);
                continue;
            }

            ready.Should().NotBeEmpty("with every delivery registered, some turn can always run (no deadlock)");
            var running = ready[random.Next(ready.Count)];
            if (running.Key is not null)
            {
                Enumerable.Range(1, (int)running.Tag - 1).Select(t => (ulong)t).Where(t => !registered.Contains(t))
                    .Should().BeEmpty("a keyed turn runs only once every earlier delivery has told its key");
                turns.Values.Where(t => t.Key == running.Key && t.Tag < running.Tag && !done.Contains(t.Tag))
                    .Should().BeEmpty("earlier turns of its key are done");
            }

            done.Add(running.Tag);
            sequencer.Done(running);
        }
    }

    [Test]
    public void A_delivery_given_up_on_that_arrives_late_goes_behind_the_turns_of_its_key()
    {
        var sequencer = new PartitionOrderFilter.Sequencer();
        var second = sequencer.Register(2, "a");
        second.Ready.Task.IsCompleted.Should().BeFalse("delivery 1 has not registered");

        sequencer.GiveUpWaitingFor(second);
        second.Ready.Task.IsCompleted.Should().BeTrue();
        var late = sequencer.Register(1, "a");
        late.Ready.Task.IsCompleted.Should().BeFalse("the turn that is running keeps its place");

        sequencer.Done(second);
        late.Ready.Task.IsCompleted.Should().BeTrue();
    }
}
