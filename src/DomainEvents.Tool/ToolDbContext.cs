using DomainEvents.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace DomainEvents.Tool;

/// <summary>A context with only the outbox and inbox tables, named as the service names them.</summary>
internal sealed class ToolDbContext(DbContextOptions<ToolDbContext> options, ToolTables tables) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.AddDomainEventsOutbox(o =>
        {
            o.Schema = tables.Schema;
            o.OutboxTable = tables.Outbox;
            o.InboxTable = tables.Inbox;
        });
}

/// <summary>The schema and table names given on the command line.</summary>
internal sealed record ToolTables(string? Schema, string Outbox, string Inbox);
