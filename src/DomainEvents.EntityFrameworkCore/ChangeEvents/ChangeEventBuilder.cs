using System.Linq.Expressions;

namespace DomainEvents.EntityFrameworkCore.ChangeEvents;

/// <summary>
/// Configures one destination of an entity's change events, in <c>modelBuilder.Entity&lt;T&gt;().PublishChanges(…)</c>.
/// Every setting has a convention: the exchange is the entity's name in kebab-case, message types are
/// <c>{entity}.created|updated|deleted</c> with the entity's name in dotted lower case, the routing key is the message
/// type, the version is 1, the data is every mapped property, and an update is published when a selected field changed.
/// </summary>
/// <typeparam name="TEntity">The entity type.</typeparam>
public sealed class ChangeEventBuilder<TEntity>
    where TEntity : class
{
    internal string? ExchangeName { get; private set; }

    internal string? MessageTypePrefix { get; private set; }

    internal string? RoutingKeyPrefix { get; private set; }

    internal int VersionNumber { get; private set; } = 1;

    internal ChangeOperations PublishedOperations { get; private set; } = ChangeOperations.All;

    internal bool PublishOnAnyChange { get; private set; }

    internal IReadOnlySet<string>? FieldNames { get; private set; }

    internal Func<object, object?>? DataOf { get; private set; }

    /// <summary>Gets how the data is chosen, as the model annotation describes it.</summary>
    internal string Projection { get; private set; } = "[*]";

    /// <summary>Publishes to this exchange.</summary>
    /// <param name="exchange">The exchange.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> ToExchange(string exchange)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(exchange);
        ExchangeName = exchange;
        return this;
    }

    /// <summary>
    /// Publishes these fields, as an anonymous object of the entity's members: <c>q =&gt; new { q.Id, q.Text }</c>. An
    /// update is published only when one of them changed, unless <see cref="OnAnyChange"/> is set.
    /// </summary>
    /// <typeparam name="TFields">The anonymous type.</typeparam>
    /// <param name="fields">The selection; each member must be a member of the entity.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> Fields<TFields>(Expression<Func<TEntity, TFields>> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        FieldNames = FieldsOf(fields);
        Projection = $"[{string.Join(",", FieldNames)}]";
        var compiled = fields.Compile();
        DataOf = entity => compiled((TEntity)entity);
        return this;
    }

    /// <summary>
    /// Publishes what a delegate makes of the entity (a DTO, a dictionary), like a model method serializer. Since the
    /// delegate names no fields, an update is published whenever a mapped property or owned data changed.
    /// </summary>
    /// <param name="projection">Turns the entity into the event's data; it runs inside the save's transaction.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> Project(Func<TEntity, object?> projection)
    {
        ArgumentNullException.ThrowIfNull(projection);
        FieldNames = null;
        Projection = "projection";
        DataOf = entity => projection((TEntity)entity);
        return this;
    }

    /// <summary>Names the message types <c>{prefix}.created|updated|deleted</c>.</summary>
    /// <param name="prefix">The start of the names, such as <c>polls.question</c>.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> MessageType(string prefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        MessageTypePrefix = prefix;
        return this;
    }

    /// <summary>Routes with <c>{prefix}.created|updated|deleted</c> instead of the message type.</summary>
    /// <param name="prefix">The start of the routing keys.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> RoutingKey(string prefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        RoutingKeyPrefix = prefix;
        return this;
    }

    /// <summary>Sets the schema version of the events (default 1). The relay's <c>VersionInRoutingKey</c> applies to them as to any message type.</summary>
    /// <param name="version">The version, 1 or more.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> Version(int version)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        VersionNumber = version;
        return this;
    }

    /// <summary>Publishes only these operations (default: all three).</summary>
    /// <param name="operations">The operations.</param>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> Only(ChangeOperations operations)
    {
        PublishedOperations = operations;
        return this;
    }

    /// <summary>Publishes an update when any mapped property or owned data changed, not only a selected field.</summary>
    /// <returns>The builder.</returns>
    public ChangeEventBuilder<TEntity> OnAnyChange()
    {
        PublishOnAnyChange = true;
        return this;
    }

    private static HashSet<string> FieldsOf<TFields>(Expression<Func<TEntity, TFields>> fields)
    {
        var arguments = fields.Body switch
        {
            NewExpression created => created.Arguments,
            MemberInitExpression init => [.. init.Bindings.OfType<MemberAssignment>().Select(b => b.Expression)],
            MemberExpression single => [single],
            _ => throw new ArgumentException($"Select fields as an anonymous object of the entity's members, such as e => new {{ e.Id, e.Name }}, not '{fields.Body}'. Use Project for anything else.", nameof(fields)),
        };
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var argument in arguments)
        {
            var member = argument is UnaryExpression { NodeType: ExpressionType.Convert } convert ? convert.Operand : argument;
            if (member is not MemberExpression { Expression: ParameterExpression } access)
            {
                throw new ArgumentException($"Each selected field must be a member of the entity, such as e.Name; '{argument}' is not. Use Project for computed data.", nameof(fields));
            }

            names.Add(access.Member.Name);
        }

        return names;
    }
}
