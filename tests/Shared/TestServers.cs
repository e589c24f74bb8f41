namespace DomainEvents.Testing;

/// <summary>
/// Where the real servers for integration tests are. <c>dotnet cake --target=Test</c> starts them and sets
/// the variables; a developer who runs their own servers sets the variables themselves. A test that needs a
/// server fails (never skips) when its variable is missing.
/// </summary>
public static class TestServers
{
    public const string PostgresVariable = "DOMAINEVENTS_TEST_POSTGRES";
    public const string RabbitMqVariable = "DOMAINEVENTS_TEST_RABBITMQ";

    public static string PostgresConnectionString => Require(PostgresVariable, "a PostgreSQL connection string, e.g. Host=127.0.0.1;Port=5432;Username=postgres;Password=...;Database=postgres");

    public static Uri RabbitMqUri => new(Require(RabbitMqVariable, "an AMQP URI, e.g. amqp://guest:guest@127.0.0.1:5672/"));

    private static string Require(string variable, string what)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(value))
        {
            Assert.Fail($"This integration test needs a real server: set {variable} to {what}, " +
                        "or run the whole suite with `dotnet tool restore && dotnet cake --target=Test`, which starts one.");
        }

        return value!;
    }
}
