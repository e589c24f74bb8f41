using System.Net.Sockets;
using DomainEvents.MassTransit.Consumers;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// An ordered inbox consumer waits for as long as the database is away, but not for a transient error that may be the
/// message's own doing: that one goes to the error queue after the last wait, as on any endpoint. A timeout counts as the
/// database being away: a network cut off leaves commands waiting until they time out.
/// </summary>
public sealed class TellingAnOutageFromTheMessagesFault
{
    private static IEnumerable<TestCaseData> Errors()
    {
        yield return new TestCaseData(new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)), true).SetName("a refused connection is an outage");
        yield return new TestCaseData(new NpgsqlException("Exception while reading from stream", new EndOfStreamException()), true).SetName("a lost connection is an outage");
        yield return new TestCaseData(Postgres("57P01"), true).SetName("a server shut down by its administrator is an outage");
        yield return new TestCaseData(Postgres("57P03"), true).SetName("a server starting up is an outage");
        yield return new TestCaseData(Postgres("08006"), true).SetName("a connection failure is an outage");
        yield return new TestCaseData(Postgres("25006"), true).SetName("a server that only reads is an outage");
        yield return new TestCaseData(new RetryLimitExceededException("gave up", Postgres("57P01")), true).SetName("an execution strategy that gave up on an outage is an outage");
        yield return new TestCaseData(new NpgsqlException("Failed to connect to 10.0.0.9:5432", new TimeoutException("Timeout during connection attempt")), true).SetName("a connection attempt that timed out is an outage");
        yield return new TestCaseData(new NpgsqlException("Exception while reading from stream", new TimeoutException("Timeout during reading attempt")), true).SetName("a command that timed out waiting for the server is an outage");
        yield return new TestCaseData(Postgres("53300"), true).SetName("a server that takes no more connections is an outage");
        yield return new TestCaseData(NoSuitableHost(), true).SetName("several hosts of which none fits is an outage");
        yield return new TestCaseData(NoHostAnswered(), true).SetName("several hosts of which none answers is an outage");
        yield return new TestCaseData(new NpgsqlException("Unable to connect to a suitable host. Check inner exception for more details.",
            new AggregateException(new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused)), Postgres("40P01"))), false)
            .SetName("several hosts of which one answers with a deadlock is not an outage");
        yield return new TestCaseData(new NpgsqlException("No suitable host was found.", new InvalidOperationException("the consumer's")), false)
            .SetName("an error that only says the same words is not an outage");
        yield return new TestCaseData(Postgres("57014"), false).SetName("a statement the server cancelled is not an outage");
        yield return new TestCaseData(Postgres("40P01"), false).SetName("a deadlock is not an outage");
        yield return new TestCaseData(Postgres("40001"), false).SetName("a serialization failure is not an outage");
        yield return new TestCaseData(new IOException("a file of the consumer's"), false).SetName("an I/O error outside the database is not an outage");
    }

    [TestCaseSource(nameof(Errors))]
    public void The_error_tells(Exception error, bool outage) => TransientDatabaseErrors.IsAway(error).Should().Be(outage);

    private static IEnumerable<TestCaseData> Refusals()
    {
        yield return new TestCaseData(Postgres("28P01")).SetName("a password the server refuses is retried and held");
        yield return new TestCaseData(Postgres("28000")).SetName("a role the server refuses is retried and held");
        yield return new TestCaseData(Postgres("3D000")).SetName("a database that does not exist is retried and held");
        yield return new TestCaseData(Postgres("25006")).SetName("a server that only reads is retried and held");
        yield return new TestCaseData(NoSuitableHost()).SetName("several hosts of which none fits is retried and held");
        yield return new TestCaseData(NoHostAnswered()).SetName("several hosts of which none answers is retried and held");
    }

    /// <summary>Npgsql does not call these transient; they are the database being unusable for now, not the message's fault.</summary>
    [TestCaseSource(nameof(Refusals))]
    public void A_database_the_service_cannot_use_now_is_retried_and_held(Exception error)
    {
        error.Should().BeAssignableTo<NpgsqlException>().Which.IsTransient.Should().BeFalse();
        TransientDatabaseErrors.IsTransient(error).Should().BeTrue();
        TransientDatabaseErrors.IsAway(error).Should().BeTrue();
    }

    /// <summary>Several hosts fail in different ways: the error is transient only when every host's is, whichever came first.</summary>
    [Test]
    public void Several_hosts_of_which_one_answers_with_an_error_that_is_not_transient_are_not_retried()
    {
        var refused = new NpgsqlException("Failed to connect to 10.0.0.8:5432", new SocketException((int)SocketError.ConnectionRefused));
        var undefinedTable = Postgres("42P01");
        foreach (var errors in new[] { new Exception[] { refused, undefinedTable }, [undefinedTable, refused] })
        {
            var error = new NpgsqlException("Unable to connect to a suitable host. Check inner exception for more details.", new AggregateException(errors));
            TransientDatabaseErrors.IsTransient(error).Should().BeFalse();
            TransientDatabaseErrors.IsAway(error).Should().BeFalse();
        }
    }

    private static PostgresException Postgres(string sqlState) => new("injected", "ERROR", "ERROR", sqlState);

    /// <summary>What Npgsql's multi-host data source throws when it knows every host to be unfit (none primary, say).</summary>
    private static NpgsqlException NoSuitableHost() => new("No suitable host was found.");

    /// <summary>What it throws when it tried every host and none answered: each host's error in an AggregateException.</summary>
    private static NpgsqlException NoHostAnswered() => new("Unable to connect to a suitable host. Check inner exception for more details.",
        new AggregateException(
            new NpgsqlException("Failed to connect to 10.0.0.8:5432", new SocketException((int)SocketError.ConnectionRefused)),
            new NpgsqlException("Failed to connect to 10.0.0.9:5432", new TimeoutException("Timeout during connection attempt"))));
}
