namespace DomainEvents.EntityFrameworkCore.Tests;

/// <summary>Waits for what a relay running on other threads brings about.</summary>
internal static class Eventually
{
    /// <summary>
    /// Checks <paramref name="condition"/> every <paramref name="every"/> (10 ms by default) until it holds; fails the test
    /// with <paramref name="failure"/> once <paramref name="within"/> has passed without it.
    /// </summary>
    public static async Task HoldsAsync(Func<bool> condition, TimeSpan within, string failure, TimeSpan? every = null)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(failure);
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(10));
        }
    }
}
