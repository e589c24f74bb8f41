using Microsoft.Extensions.DependencyInjection;

namespace Ordering.Application;

public static class ApplicationServices
{
    /// <summary>The use cases. The domain event handlers of this assembly are registered by Ordering.Infrastructure with AddDomainEvents.</summary>
    public static IServiceCollection AddOrderingApplication(this IServiceCollection services) =>
        services.AddScoped<PlaceOrder>();
}
