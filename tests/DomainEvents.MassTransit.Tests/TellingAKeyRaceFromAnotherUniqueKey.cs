using DomainEvents.EntityFrameworkCore.Keys;
using DomainEvents.MassTransit.Consumers;
using DomainEvents.MassTransit.Tests.Model;
using DomainEvents.Testing;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The inbox runs an attempt again when its save lost a keyed event's key to another save (the ledger of handled keys
/// refused the row); a unique value of any other table refused in the same save is the message's own fault. Told apart on
/// each database by the table the database names.
/// </summary>
[TestFixture(DatabaseProvider.PostgreSql)]
[TestFixture(DatabaseProvider.Sqlite)]
[Category("Integration")]
public sealed class TellingAKeyRaceFromAnotherUniqueKey(DatabaseProvider provider)
{
    private TestDatabase _database = null!;

    [SetUp]
    public async Task CreateAsync()
    {
        _database = await TestDatabase.CreateAsync(provider);
        await using var db = Billing();
        await db.Database.EnsureCreatedAsync();
    }

    [TearDown]
    public async Task DropAsync() => await _database.DisposeAsync();

    [Test]
    public async Task A_save_refused_on_a_taken_key_is_run_again_and_one_refused_on_another_tables_key_is_not()
    {
        await using (var first = Billing())
        {
            first.Add(Key("first-receipt:2026-12-03"));
            first.Tallies.Add(new Tally { Name = "receipts" });
            await first.SaveChangesAsync();
        }

        // The key another save committed first, beside the consumer's own row: the ledger refuses the save.
        await using (var lost = Billing())
        {
            lost.Add(Key("first-receipt:2026-12-03"));
            lost.Receipts.Add(new Receipt { Consumer = "day-receipts" });
            var race = (await FluentActions.Awaiting(() => lost.SaveChangesAsync()).Should().ThrowAsync<DbUpdateException>()).Which;
            TransientDatabaseErrors.IsTransient(race).Should().BeTrue("a new attempt finds the key handled and skips the event");
        }

        // A free key beside a tally whose name is taken: the save is refused on the tallies, not the ledger.
        await using (var other = Billing())
        {
            other.Add(Key("first-receipt:2026-12-04"));
            other.Tallies.Add(new Tally { Name = "receipts" });
            var refused = (await FluentActions.Awaiting(() => other.SaveChangesAsync()).Should().ThrowAsync<DbUpdateException>()).Which;
            TransientDatabaseErrors.IsTransient(refused).Should().BeFalse("running it again would be refused the same way");
        }
    }

    private static HandledEventKey Key(string key) => new() { Key = key, EventType = nameof(FirstReceiptOfTheDay), HandledAt = DateTime.UtcNow };

    private BillingDbContext Billing()
    {
        var options = new DbContextOptionsBuilder<BillingDbContext>();
        _database.Configure(options);
        return new BillingDbContext(options.Options);
    }
}
