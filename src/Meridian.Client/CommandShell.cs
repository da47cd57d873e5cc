namespace Meridian.Client;

/// <summary>
/// The command loop ntpq and ntpdc share: for each host, connect, then run the <c>-c</c> commands or read commands
/// from the prompt; a command is named in full, by an alias, or by a prefix that fits one command only (the classic
/// tools' "ambiguous" and "unknown" errors otherwise); <c>host</c>, <c>timeout</c>, <c>keyid</c>, <c>keytype</c> and
/// <c>passwd</c> are the session's own.
/// </summary>
public sealed class CommandShell(ControlSession session, string prompt, IReadOnlyList<string> commands, Func<string, string[], bool> execute)
{
    /// <summary>Other names of commands (ntpq's <c>as</c>, ntpdc's <c>peer</c>).</summary>
    public IReadOnlyDictionary<string, string> Aliases { get; init; } = new Dictionary<string, string>();

    /// <summary>Called before the commands of each host when there are several (ntpq prints <c>server=HOST</c>).</summary>
    public Action<string>? BeforeHost { get; init; }

    /// <summary>Runs <paramref name="lines"/> (or the prompt) against each host; the exit status: 0, or 1 when anything failed.</summary>
    public int Run(IReadOnlyList<string> hosts, IReadOnlyList<string> lines, bool interactive)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(lines);
        int status = 0;
        foreach (string host in hosts.Count == 0 ? ["localhost"] : hosts)
        {
            if (!session.Connect(host))
            {
                status = 1;
                continue;
            }

            if (lines.Count == 0 || interactive)
            {
                Prompt();
                continue;
            }

            if (hosts.Count > 1)
            {
                BeforeHost?.Invoke(host);
            }

            foreach (string line in lines)
            {
                if (!RunLine(line))
                {
                    status = 1;
                }
            }
        }

        return status;
    }

    /// <summary>Runs one command line; false when it failed.</summary>
    public bool RunLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        string[] words = line.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            return true;
        }

        string name = words[0];
        string? command = Resolve(name);
        if (command is null)
        {
            bool ambiguous = commands.Count(c => c.StartsWith(name, StringComparison.Ordinal)) > 1;
            Console.Error.WriteLine(ambiguous ? $"***Command `{name}' ambiguous" : $"***Command `{name}' unknown");
            return false;
        }

        return session.RunCommon(command, words[1..]) ?? execute(command, words[1..]);
    }

    /// <summary>The command <paramref name="name"/> stands for, or null when it names none or several.</summary>
    public string? Resolve(string name)
    {
        if (commands.Contains(name))
        {
            return name;
        }

        if (Aliases.TryGetValue(name, out string? alias))
        {
            return alias;
        }

        var matches = commands.Where(c => c.StartsWith(name, StringComparison.Ordinal)).ToList();
        return matches.Count == 1 ? matches[0] : null;
    }

    /// <summary>The interactive prompt: one command a line until end of input or quit.</summary>
    private void Prompt()
    {
        while (true)
        {
            Console.Write(prompt);
            string? line = Console.ReadLine();
            if (line is null || line.Trim() is "quit" or "exit" or "q")
            {
                return;
            }

            RunLine(line);
        }
    }
}
