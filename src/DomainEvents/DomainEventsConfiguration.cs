using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using DomainEvents.Errors;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace DomainEvents;

/// <summary>
/// The <c>DomainEvents</c> section of the application's configuration, given to
/// <c>AddDomainEvents(configuration, ...)</c>. Each package reads its own keys from it when it is added, before the
/// code's settings: a value set in code wins over the same value in configuration, and lists (bindings, ignored types)
/// combine. A key the library does not know, or a value that does not convert, fails at start-up with
/// <see cref="DomainEventsConfigurationException"/> naming the key.
/// </summary>
public sealed class DomainEventsConfiguration
{
    /// <summary>The name of the section read from the application's configuration (<c>DomainEvents</c>).</summary>
    public const string SectionName = "DomainEvents";

    /// <summary>The keys of the section: the dispatch limits, the relay, the MassTransit transport and the consumers.</summary>
    public static readonly IReadOnlyList<string> Keys =
    [
        nameof(DomainEventsOptions.MaxCascadeDepth), nameof(DomainEventsOptions.MaxPayloadBytes), "Relay",
        "ExchangeType", "Envelope", "VersionInRoutingKey", "Exchanges", "MessageTypes", "CloudEvents", "Consumers",
    ];

    internal DomainEventsConfiguration(IConfigurationSection section)
    {
        Section = section;
        CheckKeys(section, Keys);
    }

    /// <summary>Gets the section.</summary>
    public IConfigurationSection Section { get; }

    /// <summary>Gets the configuration given to <c>AddDomainEvents</c> in these services, or <see langword="null"/> when none was.</summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The configuration, or <see langword="null"/>.</returns>
    public static DomainEventsConfiguration? Find(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.LastOrDefault(d => d.ServiceType == typeof(DomainEventsConfiguration))?.ImplementationInstance as DomainEventsConfiguration;
    }

    /// <summary>
    /// Sets the public settable properties of <paramref name="options"/> whose values <paramref name="section"/> holds:
    /// numbers, flags, text, time spans (<c>00:00:30</c>), enumerations by name and URIs. Keys in
    /// <paramref name="handledElsewhere"/> are left to the caller; any other key the options do not have fails.
    /// </summary>
    /// <param name="section">The section that holds the values.</param>
    /// <param name="options">The options to set.</param>
    /// <param name="handledElsewhere">Keys the caller reads itself (lists, maps).</param>
    /// <exception cref="DomainEventsConfigurationException">A key the options do not have, or a value that does not convert.</exception>
    public static void Bind(IConfigurationSection section, object options, params string[] handledElsewhere)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handledElsewhere);
        var properties = options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true } && IsSimple(p.PropertyType))
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        CheckKeys(section, [.. properties.Keys, .. handledElsewhere]);
        foreach (var child in section.GetChildren())
        {
            // A key without a value (null, or an empty object in JSON) leaves the setting as it is.
            if (properties.TryGetValue(child.Key, out var property) && Convert(child, property.PropertyType) is { } value)
            {
                property.SetValue(options, value);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="validate"/>. When <paramref name="section"/> gave any of the options' values, an
    /// <see cref="ArgumentException"/> about a property becomes a <see cref="DomainEventsConfigurationException"/>
    /// naming that property's key, and says whether the refused value is the configuration's or the code's (a check
    /// that compares two settings may refuse a value the code left at its default because of one the section set).
    /// </summary>
    /// <param name="section">The section the options were bound from, or <see langword="null"/>.</param>
    /// <param name="options">The options, to read the refused value.</param>
    /// <param name="validate">The options' validation, which names the property as the exception's parameter.</param>
    public static void Validate(IConfigurationSection? section, object options, Action validate)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(validate);
        try
        {
            validate();
        }
        catch (ArgumentException ex) when (section is not null && ex.ParamName is { } name && section.GetChildren().Any())
        {
            var property = options.GetType().GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            var value = property?.GetValue(options);
            var configured = section.GetSection(name);
            var fromConfiguration = configured.Value is not null && property is not null && IsSimple(property.PropertyType) && Equals(Convert(configured, property.PropertyType), value);
            throw new DomainEventsConfigurationException(
                $"{section.Path}:{property?.Name ?? name}",
                fromConfiguration
                    ? $"'{configured.Value}' is not accepted: {FirstLine(ex.Message)}"
                    : $"{FirstLine(ex.Message)} (the value {Text(value)} is the code's or the default; this section sets {string.Join(", ", section.GetChildren().Select(c => c.Key))}).",
                ex);
        }
    }

    private static string Text(object? value) => value switch
    {
        null => "null",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Reads a value as <paramref name="type"/>, failing with the key's name.</summary>
    /// <param name="section">The value's section.</param>
    /// <param name="type">A number, flag, text, time span, enumeration or URI type.</param>
    /// <returns>The value, or <see langword="null"/> when the section holds none.</returns>
    public static object? Convert(IConfigurationSection section, Type type)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(type);
        if (section.Value is null)
        {
            if (section.GetChildren().Any())
            {
                throw new DomainEventsConfigurationException(section.Path, $"expected one value ({Describe(type)}), found a section.");
            }

            return null;
        }

        var target = Nullable.GetUnderlyingType(type) ?? type;
        try
        {
            if (target.IsEnum)
            {
                return Enum.TryParse(target, section.Value, ignoreCase: true, out var parsed) && Enum.IsDefined(target, parsed!) && !char.IsAsciiDigit(section.Value.TrimStart('-')[0])
                    ? parsed
                    : throw new FormatException($"one of {string.Join(", ", Enum.GetNames(target))}");
            }

            if (target == typeof(Uri))
            {
                return new Uri(section.Value, UriKind.RelativeOrAbsolute);
            }

            return TypeDescriptor.GetConverter(target).ConvertFromInvariantString(section.Value);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException or UriFormatException)
        {
            throw new DomainEventsConfigurationException(section.Path, $"'{section.Value}' is not {Describe(target)}.", ex);
        }
    }

    /// <summary>Fails on the first key of <paramref name="section"/> that is not one of <paramref name="known"/> (compared ignoring case).</summary>
    /// <param name="section">The section.</param>
    /// <param name="known">The keys it may have.</param>
    public static void CheckKeys(IConfigurationSection section, IEnumerable<string> known)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(known);
        var names = known.ToList();
        foreach (var child in section.GetChildren())
        {
            if (!names.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                throw new DomainEventsConfigurationException(child.Path, $"not a key of '{section.Path}'; it has {string.Join(", ", names)}.");
            }
        }
    }

    private static bool IsSimple(Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        return target.IsPrimitive || target.IsEnum || target == typeof(string) || target == typeof(TimeSpan) || target == typeof(Uri) || target == typeof(decimal);
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(TimeSpan) => "a time span (such as 00:00:30)",
        _ when type == typeof(bool) => "true or false",
        _ when type.IsEnum => $"one of {string.Join(", ", Enum.GetNames(type))}",
        _ when type == typeof(Uri) => "a URI",
        _ when type == typeof(string) => "text",
        _ => $"a {type.Name}",
    };

    private static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
