using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Meridian.Config;

/// <summary>One data line of a leap seconds file: from <see cref="NtpSeconds"/> on, TAI − UTC is <see cref="TaiOffset"/>.</summary>
/// <param name="NtpSeconds">Seconds since 1900 (NTP era 0) of 00:00:00 UTC of the day the new offset takes effect.</param>
/// <param name="TaiOffset">TAI − UTC from then on, seconds.</param>
public readonly record struct LeapSecondsEntry(long NtpSeconds, int TaiOffset);

/// <summary>
/// The NIST/IERS <c>leap-seconds.list</c> that ntpd's <c>leapfile</c> names: data lines <c>NTPseconds TAI-UTC # comment</c>,
/// <c>#$</c> the last update, <c>#@</c> the expiry (both NTP seconds), and <c>#h</c> the SHA-1 of the data as five
/// 32-bit hex words. A file whose hash does not match is refused, as ntpd refuses it: a truncated or edited table
/// would announce leaps that IERS never did. Problems are <see cref="ConfigDiagnostic"/>s with file, line and column.
/// </summary>
public sealed class LeapSecondsFile
{
    private LeapSecondsFile(IReadOnlyList<LeapSecondsEntry> entries, long updated, long expires, bool hashPresent)
    {
        Entries = entries;
        Updated = updated;
        Expires = expires;
        HashPresent = hashPresent;
    }

    /// <summary>The data lines in file order (ascending time).</summary>
    public IReadOnlyList<LeapSecondsEntry> Entries { get; }

    /// <summary><c>#$</c>: when the file was last updated, NTP seconds (0 when the line is missing).</summary>
    public long Updated { get; }

    /// <summary><c>#@</c>: after this, NTP seconds, the file may miss announced leaps.</summary>
    public long Expires { get; }

    /// <summary>The file had a <c>#h</c> line (and, since the file was accepted, it matched).</summary>
    public bool HashPresent { get; }

    /// <summary>True when a <c>#h</c> line was present and matched the data: a refused file is never returned.</summary>
    public bool HashValid => HashPresent;

    /// <summary>UTC of an NTP second count of era 0, as the file's comments write it.</summary>
    public static DateTime ToUtc(long ntpSeconds) => DateTime.UnixEpoch.AddSeconds(ntpSeconds - 2_208_988_800L);

    /// <summary>Reads the file at <paramref name="path"/>; null (with an error diagnostic) when it cannot be read or is refused.</summary>
    public static LeapSecondsFile? Read(string path, List<ConfigDiagnostic> diagnostics)
    {
        ArgumentNullException.ThrowIfNull(diagnostics);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, path, 0, 0, e is FileNotFoundException or DirectoryNotFoundException ? "the leap seconds file does not exist" : $"cannot read the leap seconds file: {e.Message}"));
            return null;
        }

        return Parse(text, path, diagnostics);
    }

    /// <summary>Parses file text; null when any error was found (each is a diagnostic naming its line and column).</summary>
    public static LeapSecondsFile? Parse(string text, string fileName, List<ConfigDiagnostic> diagnostics)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(diagnostics);
        int errors = diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
        var entries = new List<LeapSecondsEntry>();
        var hashed = new StringBuilder();
        long? updated = null;
        long? expires = null;
        uint[]? hash = null;
        int hashLine = 0;
        string[] lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n].TrimEnd('\r');
            void Error(int column, string message) =>
                diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, fileName, n + 1, column, message));

            if (line.StartsWith("#$", StringComparison.Ordinal) || line.StartsWith("#@", StringComparison.Ordinal))
            {
                (string field, int column) = FirstField(line, 2);
                if (!long.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
                {
                    Error(column, $"expected NTP seconds after '{line[..2]}', not '{field}'");
                    continue;
                }

                // The hash covers these digits too (in file order, as NIST builds it).
                hashed.Append(field);
                if (line[1] == '$')
                {
                    updated = value;
                }
                else
                {
                    expires = value;
                }

                continue;
            }

            if (line.StartsWith("#h", StringComparison.Ordinal))
            {
                hashLine = n + 1;
                hash = ParseHash(line, Error);
                continue;
            }

            int comment = line.IndexOf('#', StringComparison.Ordinal);
            string data = comment >= 0 ? line[..comment] : line;
            if (data.Trim().Length == 0)
            {
                continue;
            }

            (string seconds, int secondsColumn) = FirstField(data, 0);
            (string offset, int offsetColumn) = FirstField(data, secondsColumn - 1 + seconds.Length);
            if (!long.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out long ntpSeconds) || ntpSeconds > uint.MaxValue)
            {
                Error(secondsColumn, $"expected NTP seconds (the leap's effect), not '{seconds}'");
                continue;
            }

            if (offset.Length == 0)
            {
                Error(data.TrimEnd().Length + 2, "expected TAI-UTC after the NTP seconds");
                continue;
            }

            if (!int.TryParse(offset, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int tai) || tai < 0 || tai > 1000)
            {
                Error(offsetColumn, $"expected TAI-UTC in seconds, not '{offset}'");
                continue;
            }

            if (entries.Count > 0 && ntpSeconds <= entries[^1].NtpSeconds)
            {
                Error(secondsColumn, $"{seconds} is not after the line before ({entries[^1].NtpSeconds}): the entries must ascend");
                continue;
            }

            if (entries.Count > 0 && Math.Abs(tai - entries[^1].TaiOffset) != 1)
            {
                Error(offsetColumn, $"TAI-UTC changes from {entries[^1].TaiOffset} to {tai}: a leap second moves it by one");
                continue;
            }

            hashed.Append(seconds).Append(offset);
            entries.Add(new LeapSecondsEntry(ntpSeconds, tai));
        }

        if (entries.Count == 0)
        {
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, fileName, lines.Length, 1, "no leap second entries (NTPseconds TAI-UTC lines)"));
        }

        if (expires is null)
        {
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, fileName, lines.Length, 1, "no expiry line ('#@ NTPseconds')"));
        }

        if (hash is null && hashLine == 0)
        {
            // ntpd loads a file without a hash with a warning: nothing can show it is intact.
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Warning, fileName, lines.Length, 1, "no hash line ('#h'): the file cannot be checked"));
        }
        else if (hash is not null && !Matches(hash, hashed.ToString()))
        {
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, fileName, hashLine, 1, "the SHA-1 hash ('#h') does not match the data: the file was changed or truncated; refused"));
        }

        if (diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error) > errors)
        {
            return null;
        }

        return new LeapSecondsFile(entries, updated ?? 0, expires!.Value, hash is not null);
    }

    /// <summary>The first whitespace-separated field at or after <paramref name="start"/>, with its 1-based column.</summary>
    private static (string Field, int Column) FirstField(string line, int start)
    {
        int i = start;
        while (i < line.Length && char.IsWhiteSpace(line[i]))
        {
            i++;
        }

        int end = i;
        while (end < line.Length && !char.IsWhiteSpace(line[end]) && line[end] != '#')
        {
            end++;
        }

        return (line[i..end], i + 1);
    }

    /// <summary>Five hex words; a word may drop its leading zeros (NIST has published such files).</summary>
    private static uint[]? ParseHash(string line, Action<int, string> error)
    {
        var words = new uint[5];
        int position = 2;
        for (int w = 0; w < 5; w++)
        {
            (string field, int column) = FirstField(line, position);
            if (field.Length == 0 || field.Length > 8 || !uint.TryParse(field, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out words[w]))
            {
                error(field.Length == 0 ? line.TrimEnd().Length + 2 : column, field.Length == 0 ? $"expected 5 hex words after '#h', found {w}" : $"'{field}' is not a 32-bit hex word");
                return null;
            }

            position = column - 1 + field.Length;
        }

        return words;
    }

    private static bool Matches(uint[] expected, string digits)
    {
        byte[] sha = SHA1.HashData(Encoding.ASCII.GetBytes(digits));
        for (int w = 0; w < 5; w++)
        {
            if (System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(sha.AsSpan(w * 4)) != expected[w])
            {
                return false;
            }
        }

        return true;
    }
}
