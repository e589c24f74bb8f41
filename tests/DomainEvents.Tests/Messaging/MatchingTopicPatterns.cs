using DomainEvents.Messaging;

namespace DomainEvents.Tests.Messaging;

public sealed class MatchingTopicPatterns
{
    [TestCase("challenge.*", "challenge.ended", true)]
    [TestCase("challenge.*", "challenge", false)]
    [TestCase("challenge.*", "challenge.ended.late", false)]
    [TestCase("challenge.#", "challenge", true)]
    [TestCase("challenge.#", "challenge.ended.late", true)]
    [TestCase("*.ended", "challenge.ended", true)]
    [TestCase("*.ended", "ended", false)]
    [TestCase("#", "anything.at.all", true)]
    [TestCase("#.late", "challenge.ended.late", true)]
    [TestCase("a.#.z", "a.z", true)]
    [TestCase("a.#.z", "a.b.c.z", true)]
    [TestCase("a.#.z", "a.b.c", false)]
    [TestCase("order.placed", "order.placed", true)]
    [TestCase("order.placed", "Order.Placed", false)]
    public void A_pattern_matches_as_a_RabbitMQ_topic_binding_does(string pattern, string name, bool matches) =>
        TopicPattern.Parse(pattern).IsMatch(name).Should().Be(matches);

    [TestCase("")]
    [TestCase("challenge..ended")]
    [TestCase(".challenge")]
    [TestCase("challenge. ended")]
    public void A_pattern_with_an_empty_word_is_refused(string pattern) =>
        FluentActions.Invoking(() => TopicPattern.Parse(pattern)).Should().Throw<ArgumentException>();
}
