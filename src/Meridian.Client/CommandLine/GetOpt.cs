namespace Meridian.Client.CommandLine;

/// <summary>One parsed option: its short letter or long name, and its argument if it takes one.</summary>
public readonly record struct ParsedOption(string Name, string? Value);

/// <summary>
/// POSIX getopt with GNU long options, which is what the classic tools accept: bundled flags (<c>-qu</c>),
/// attached or separate arguments (<c>-p4</c>, <c>-p 4</c>), <c>--name=value</c>, and <c>--</c> to end options.
/// Long options are mapped to their short letter when they have one.
/// </summary>
public sealed class GetOpt
{
    private readonly string _shortSpec;
    private readonly IReadOnlyDictionary<string, (string Name, bool TakesValue)> _long;

    /// <param name="shortSpec">Letters, each followed by ':' when it takes an argument, as in getopt(3).</param>
    /// <param name="longOptions">Long names (without "--"), to the option name they stand for and whether they take an argument.</param>
    public GetOpt(string shortSpec, IReadOnlyDictionary<string, (string Name, bool TakesValue)>? longOptions = null)
    {
        _shortSpec = shortSpec;
        _long = longOptions ?? new Dictionary<string, (string, bool)>();
    }

    /// <summary>Splits <paramref name="args"/>; on a bad option returns false with an error in getopt's words.</summary>
    public bool TryParse(IReadOnlyList<string> args, out List<ParsedOption> options, out List<string> operands, out string? error)
    {
        options = new List<ParsedOption>();
        operands = new List<string>();
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                operands.AddRange(args.Skip(i + 1));
                break;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                string body = arg[2..];
                int eq = body.IndexOf('=');
                string name = eq < 0 ? body : body[..eq];
                if (!_long.TryGetValue(name, out var spec))
                {
                    error = $"unrecognized option '--{name}'";
                    return false;
                }

                string? value = eq < 0 ? null : body[(eq + 1)..];
                if (spec.TakesValue && value is null)
                {
                    if (i + 1 >= args.Count)
                    {
                        error = $"option '--{name}' requires an argument";
                        return false;
                    }

                    value = args[++i];
                }
                else if (!spec.TakesValue && value is not null)
                {
                    error = $"option '--{name}' doesn't allow an argument";
                    return false;
                }

                options.Add(new ParsedOption(spec.Name, value));
                continue;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                operands.Add(arg);
                continue;
            }

            for (int j = 1; j < arg.Length; j++)
            {
                char letter = arg[j];
                int at = _shortSpec.IndexOf(letter);
                if (at < 0 || letter == ':')
                {
                    error = $"invalid option -- '{letter}'";
                    return false;
                }

                bool takesValue = at + 1 < _shortSpec.Length && _shortSpec[at + 1] == ':';
                if (!takesValue)
                {
                    options.Add(new ParsedOption(letter.ToString(), null));
                    continue;
                }

                string? value = j + 1 < arg.Length ? arg[(j + 1)..] : i + 1 < args.Count ? args[++i] : null;
                if (value is null)
                {
                    error = $"option requires an argument -- '{letter}'";
                    return false;
                }

                options.Add(new ParsedOption(letter.ToString(), value));
                break;
            }
        }

        return true;
    }
}
