using System.Reflection;
using PublicApiGenerator;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// The public surface of each package, compared with the file checked in under api/. A change to the API is then a
/// reviewed diff of that file: run the tests with DOMAINEVENTS_APPROVE_API=1 to write the files from the build.
/// </summary>
public sealed class ApprovingThePublicApi
{
    private static readonly Assembly[] Packages =
    [
        typeof(global::DomainEvents.IDomainEvent).Assembly,
        typeof(global::DomainEvents.Dispatching.DomainEventHandler<>).Assembly,
        typeof(global::DomainEvents.EntityFrameworkCore.Outbox.OutboxMessage).Assembly,
        typeof(global::DomainEvents.MassTransit.IntegrationEventHeaders).Assembly,
        typeof(global::DomainEvents.CloudEvents.CloudEventsOptions).Assembly,
        typeof(global::DomainEvents.PostgreSql.PostgresNotificationOptions).Assembly,
        typeof(global::Microsoft.Extensions.Hosting.DomainEventsCommandsHostExtensions).Assembly,
    ];

    private static IEnumerable<TestCaseData> Assemblies() =>
        Packages.Select(a => new TestCaseData(a).SetArgDisplayNames(a.GetName().Name!));

    [TestCaseSource(nameof(Assemblies))]
    public void The_public_api_is_the_approved_one(Assembly package)
    {
        var api = package.GeneratePublicApi(new ApiGeneratorOptions
        {
            IncludeAssemblyAttributes = false,
            // Our registration extensions live in Microsoft.* namespaces (as is the custom), which the generator skips by default.
            AllowNamespacePrefixes = ["Microsoft.Extensions.DependencyInjection", "Microsoft.Extensions.Hosting", "Microsoft.EntityFrameworkCore"],
        }).ReplaceLineEndings("\n");
        var file = Path.Combine(RepositoryRoot.Path, "api", $"{package.GetName().Name}.txt");
        if (Environment.GetEnvironmentVariable("DOMAINEVENTS_APPROVE_API") == "1")
        {
            File.WriteAllText(file, api);
            return;
        }

        File.Exists(file).Should().BeTrue($"the approved API of {package.GetName().Name} is checked in as {file}");
        var approved = File.ReadAllText(file).ReplaceLineEndings("\n");
        if (api != approved)
        {
            var received = Path.Combine(RepositoryRoot.Path, "artifacts", "api", $"{package.GetName().Name}.received.txt");
            Directory.CreateDirectory(Path.GetDirectoryName(received)!);
            File.WriteAllText(received, api);
            Assert.Fail($"The public API of {package.GetName().Name} changed. Compare {received} with {file}; if the change is meant, approve it with DOMAINEVENTS_APPROVE_API=1 and commit the file.");
        }
    }

    /// <summary>
    /// Every shipped package is written against the public API of the others, as a third party's transport, database
    /// provider or tool would be: the HTTP sink transport (CloudEvents), the PostgreSQL wake-up, the operators' commands,
    /// and the outbox and MassTransit packages themselves. No shipped package lets another see its internals.
    /// </summary>
    [TestCase("DomainEvents.CloudEvents")]
    [TestCase("DomainEvents.PostgreSql")]
    [TestCase("DomainEvents.Commands")]
    [TestCase("DomainEvents.EntityFrameworkCore")]
    [TestCase("DomainEvents.MassTransit")]
    public void A_package_sees_no_internals_of_another(string package)
    {
        var granting = Packages
            .Where(a => a.GetCustomAttributes<System.Runtime.CompilerServices.InternalsVisibleToAttribute>().Any(v => v.AssemblyName == package))
            .Select(a => a.GetName().Name);

        granting.Should().BeEmpty($"{package} is built on the public contract only");
        Packages.Select(a => a.GetName().Name).Should().Contain(package);
    }
}
