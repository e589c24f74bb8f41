using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace DomainEvents.MassTransit.Tests;

/// <summary>
/// Every C# block of the README compiles, as a user would paste it. The rules (also in the README's "Run every test"):
/// blocks see the implicit usings of an ASP.NET Core project and nothing else, so each block names the namespaces it
/// needs; a block of statements is the body of an async method with <c>services</c>, <c>connectionString</c>,
/// <c>db</c>, <c>cancellationToken</c> and <c>app</c> in scope; a block of members (a method such as
/// <c>protected override void OnModelCreating</c>) is the body of a DbContext; the types the README only mentions (the
/// billing context, a reservation, an invoice) are declared in <see cref="Surroundings"/>. All blocks are one compilation, like one solution.
/// </summary>
public sealed class CompilingTheReadme
{
    private const string Surroundings = """
        using Microsoft.EntityFrameworkCore;

        public sealed record Reservation(Guid OrderId);

        public sealed class BillingDbContext(DbContextOptions<BillingDbContext> options) : DbContext(options)
        {
            public DbSet<Invoice> Invoices => Set<Invoice>();
        }

        public sealed record Invoice(Guid OrderId, decimal Amount, Guid MessageId);
        """;

    private static readonly string[] ImplicitUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading",
        "System.Threading.Tasks", "Microsoft.Extensions.Configuration", "Microsoft.Extensions.DependencyInjection",
        "Microsoft.Extensions.Hosting", "Microsoft.Extensions.Logging",
    ];

    [Test]
    public void Every_csharp_block_of_the_readme_compiles()
    {
        var blocks = Blocks(File.ReadAllText(Path.Combine(RepositoryRoot.Path, "README.md")));
        blocks.Should().HaveCountGreaterThan(5);
        var trees = new List<SyntaxTree>
        {
            CSharpSyntaxTree.ParseText(string.Join("\n", ImplicitUsings.Select(u => $"global using {u};")), path: "ImplicitUsings.cs"),
            CSharpSyntaxTree.ParseText(Surroundings, path: "Surroundings.cs"),
        };
        trees.AddRange(blocks.Select((b, i) => CSharpSyntaxTree.ParseText(Wrap(b.Code, i), path: $"README.md line {b.Line}")));

        // What a user's solution references: our packages, EF Core with Npgsql, MassTransit with RabbitMQ, the hosting
        // abstractions (every assembly beside this test but the test itself), and the runtime.
        var runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var references = Directory.GetFiles(AppContext.BaseDirectory, "*.dll")
            .Where(f => !Path.GetFileName(f).StartsWith("DomainEvents.MassTransit.Tests", StringComparison.Ordinal) && IsManaged(f))
            .Concat(Directory.GetFiles(runtime, "*.dll").Where(IsManaged))
            .GroupBy(Path.GetFileName)
            .Select(g => MetadataReference.CreateFromFile(g.First()));
        var compilation = CSharpCompilation.Create(
            "Readme",
            trees,
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        errors.Should().BeEmpty(string.Join("\n", errors.Select(e => $"{e.Location.SourceTree?.FilePath}: {e.GetMessage()} ({e.Id}) in '{e.Location.SourceTree?.GetText().ToString(e.Location.SourceSpan)}'")));
    }

    private static bool IsManaged(string file)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(file);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    private static List<(int Line, string Code)> Blocks(string readme)
    {
        var blocks = new List<(int, string)>();
        foreach (Match match in Regex.Matches(readme, @"^(?<indent>[ \t]*)```csharp[ \t]*\r?\n(?<code>.*?)^\k<indent>```", RegexOptions.Multiline | RegexOptions.Singleline))
        {
            var indent = match.Groups["indent"].Value.Length;
            var code = string.Join("\n", match.Groups["code"].Value.Split('\n').Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
            blocks.Add((readme[..match.Index].Count(c => c == '\n') + 1, code));
        }

        return blocks;
    }

    /// <summary>Usings and namespaces stay at the top; types stay types; statements become a method body; members a DbContext's.</summary>
    private static string Wrap(string code, int index)
    {
        var root = CSharpSyntaxTree.ParseText(code).GetCompilationUnitRoot();
        if (root.Members.OfType<BaseNamespaceDeclarationSyntax>().Any())
        {
            return code;
        }

        if (root.Members.OfType<MethodDeclarationSyntax>().Any() || root.Members.OfType<GlobalStatementSyntax>().FirstOrDefault()?.Statement is LocalFunctionStatementSyntax { Modifiers.Count: > 0 })
        {
            return $"{root.Usings}\npublic sealed class Block{index}Context(Microsoft.EntityFrameworkCore.DbContextOptions options) : Microsoft.EntityFrameworkCore.DbContext(options)\n{{\n{code[root.Usings.FullSpan.End..]}\n}}\n";
        }

        var statements = string.Concat(root.Members.OfType<GlobalStatementSyntax>().Select(s => s.ToFullString()));
        var types = string.Concat(root.Members.Where(m => m is not GlobalStatementSyntax).Select(m => m.ToFullString()));
        return $$"""
            {{root.Usings}}
            {{types}}
            public static class Block{{index}}
            {
                public static async Task RunAsync(IServiceCollection services, string connectionString, OrderingDbContext db, CancellationToken cancellationToken, IHost app)
                {
                    {{statements}}
                    await Task.CompletedTask;
                }
            }
            """;
    }
}
