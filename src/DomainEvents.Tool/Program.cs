using DomainEvents.Tool;

return await ToolProgram.RunAsync(args, Console.Out, Console.Error);
