using DomainEvents.Tool;

return await ToolProgram.RunAsync(args, Console.Error);
