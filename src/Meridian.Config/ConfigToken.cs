namespace Meridian.Config;

/// <summary>A word of a configuration line with where it stands (1-based line and column).</summary>
public readonly record struct ConfigToken(string Text, int Line, int Column);

/// <summary>
/// Splits ntp.conf text into lines of tokens: whitespace separates, <c>#</c> starts a comment, double quotes group a
/// token that may contain spaces (as ntpd's lexer does).
/// </summary>
public static class ConfigLexer
{
    public static IEnumerable<IReadOnlyList<ConfigToken>> Lines(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] lines = text.Split('\n');
        for (int index = 0; index < lines.Length; index++)
        {
            List<ConfigToken> tokens = Tokenize(lines[index].TrimEnd('\r'), index + 1);
            if (tokens.Count > 0)
            {
                yield return tokens;
            }
        }
    }

    private static List<ConfigToken> Tokenize(string line, int lineNumber)
    {
        var tokens = new List<ConfigToken>();
        int i = 0;
        while (i < line.Length)
        {
            char c = line[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (c == '#')
            {
                break;
            }

            int start = i;
            if (c == '"')
            {
                int end = line.IndexOf('"', i + 1);
                end = end < 0 ? line.Length : end;
                tokens.Add(new ConfigToken(line[(i + 1)..end], lineNumber, start + 1));
                i = Math.Min(end + 1, line.Length);
                continue;
            }

            while (i < line.Length && !char.IsWhiteSpace(line[i]) && line[i] != '#')
            {
                i++;
            }

            tokens.Add(new ConfigToken(line[start..i], lineNumber, start + 1));
        }

        return tokens;
    }
}
