using DomainEvents.CommandHost;
using Microsoft.Extensions.Hosting;

// A service's Program.cs as a user writes it, with the one line that adds the commands. Its settings come from the
// environment (see ShopHost, and DomainEvents__... variables for the DomainEvents section), so every argument is left to
// the commands.
var builder = Host.CreateApplicationBuilder();
ShopHost.Configure(builder.Services, builder.Configuration, ShopHost.Settings.FromEnvironment());
using var host = builder.Build();
return await host.RunWithDomainEventsCommandsAsync(args);
