namespace DomainEvents.Benchmarks.SaveChanges;

public enum DatabaseProvider
{
    Sqlite,
    PostgreSql,
}
