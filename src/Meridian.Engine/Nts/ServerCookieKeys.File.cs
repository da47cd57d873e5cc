using System.Globalization;
using System.Security.Cryptography;

namespace Meridian.Engine.Nts;

/// <summary>What <see cref="ServerCookieKeys.Merge"/> did: keys taken from the file, and whether the file lacks some key held.</summary>
/// <param name="Added">Keys of the file that were new here and are now held.</param>
/// <param name="FileLacksKeys">The set held has keys the file does not: a server that rotates writes the set back.</param>
public readonly record struct CookieKeyMerge(int Added, bool FileLacksKeys);

/// <summary>A cookie key file that is refused, with where (1-based line and column).</summary>
public sealed class CookieKeyFileException(int line, int column, string message) : FormatException(message)
{
    public int Line { get; } = line;

    public int Column { get; } = column;

    /// <summary>As ntp.conf diagnostics read: <c>FILE:LINE:COLUMN: reason</c>.</summary>
    public string Describe(string file) => $"{file}:{Line}:{Column}: {Message}";
}

// The shared key file of a fleet (RFC 8915 §6): read with the line and column of what is refused, and merged by id
// into the keys held, so that servers rotating at once keep both new keys.
public sealed partial class ServerCookieKeys
{
    /// <summary>
    /// Takes the keys of a key file's text (the shared file, written by another server) into this set, by id: the
    /// union of both, newest first (by creation time, then id, so every server of a fleet orders it alike), cut to
    /// the current key and <see cref="Retained"/> more. The newest key becomes current. Nothing changes when the
    /// text is refused (<see cref="CookieKeyFileException"/>), also when one of its ids holds another key than ours.
    /// </summary>
    public CookieKeyMerge Merge(string text)
    {
        List<(CookieMasterKey Key, int Line, int Column)> read = ReadKeys(text);
        CookieMasterKey[] held = Volatile.Read(ref _keys);
        var fresh = new List<CookieMasterKey>();
        foreach ((CookieMasterKey key, int line, int column) in read)
        {
            CookieMasterKey? same = held.FirstOrDefault(k => k.Id == key.Id);
            if (same is not null && !CryptographicOperations.FixedTimeEquals(same.Key, key.Key))
            {
                read.ForEach(k => k.Key.Dispose());
                throw new CookieKeyFileException(line, column, $"key id {key.Id:x8} is another key than the one of that id in use");
            }

            if (same is null)
            {
                fresh.Add(key);
            }
            else
            {
                key.Dispose();
            }
        }

        CookieMasterKey[] next = [.. held.Concat(fresh).OrderByDescending(k => k.Created).ThenByDescending(k => k.Id).Take(Retained + 1)];
        foreach (CookieMasterKey cut in fresh.Where(k => !next.Contains(k)))
        {
            cut.Dispose();
        }

        // Keys of ours that fall out are not zeroed here: another thread may still be opening with them (as Rotate).
        if (!next.SequenceEqual(held))
        {
            Volatile.Write(ref _keys, next);
        }

        HashSet<uint> inFile = [.. read.Select(k => k.Key.Id)];
        return new CookieKeyMerge(fresh.Count(next.Contains), next.Any(k => !inFile.Contains(k.Id)));
    }

    /// <summary>The keys of a key file's text in file order, each with where its id stands.</summary>
    private static List<(CookieMasterKey Key, int Line, int Column)> ReadKeys(string text)
    {
        var keys = new List<(CookieMasterKey Key, int Line, int Column)>();
        try
        {
            ReadKeys(text, keys);
            return keys;
        }
        catch (CookieKeyFileException)
        {
            keys.ForEach(k => k.Key.Dispose());
            throw;
        }
    }

    private static void ReadKeys(string text, List<(CookieMasterKey Key, int Line, int Column)> keys)
    {
        const string expected = "expected \"key <8 hex id> <yyyy-MM-ddTHH:mm:ssZ> <64 hex key>\"";
        string[] lines = text.Split('\n');
        int headerLine = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            List<(string Text, int Column)> fields = Fields(line);
            if (fields.Count == 0 || fields[0].Text.StartsWith('#'))
            {
                continue;
            }

            if (headerLine == 0)
            {
                if (string.Join(' ', fields.Select(f => f.Text)) != FileHeader)
                {
                    throw new CookieKeyFileException(i + 1, fields[0].Column, $"expected \"{FileHeader}\"");
                }

                headerLine = i + 1;
                continue;
            }

            if (fields[0].Text != "key")
            {
                throw new CookieKeyFileException(i + 1, fields[0].Column, expected);
            }

            if (fields.Count < 4)
            {
                throw new CookieKeyFileException(i + 1, line.TrimEnd().Length + 1, expected);
            }

            if (fields.Count > 4)
            {
                throw new CookieKeyFileException(i + 1, fields[4].Column, $"unexpected '{fields[4].Text}' after the key; {expected}");
            }

            if (fields[1].Text.Length != 8 || !uint.TryParse(fields[1].Text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint id))
            {
                throw new CookieKeyFileException(i + 1, fields[1].Column, $"the key id is 8 hex digits, not '{fields[1].Text}'");
            }

            if (!DateTime.TryParseExact(fields[2].Text, "yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime created))
            {
                throw new CookieKeyFileException(i + 1, fields[2].Column, $"the creation time is yyyy-MM-ddTHH:mm:ssZ, not '{fields[2].Text}'");
            }

            if (fields[3].Text.Length != 2 * MasterKeyLength || !IsHex(fields[3].Text))
            {
                throw new CookieKeyFileException(i + 1, fields[3].Column, $"the key is {2 * MasterKeyLength} hex digits, not {fields[3].Text.Length} characters");
            }

            if (keys.Any(k => k.Key.Id == id))
            {
                throw new CookieKeyFileException(i + 1, fields[1].Column, $"key id {id:x8} appears twice");
            }

            keys.Add((new CookieMasterKey(id, created, Convert.FromHexString(fields[3].Text)), i + 1, fields[1].Column));
        }

        if (keys.Count == 0)
        {
            throw headerLine == 0
                ? new CookieKeyFileException(1, 1, $"not a key file: no \"{FileHeader}\" line")
                : new CookieKeyFileException(headerLine, FileHeader.Length + 1, "no keys after the header");
        }
    }

    /// <summary>The space-separated words of a line with their 1-based columns.</summary>
    private static List<(string Text, int Column)> Fields(string line)
    {
        var fields = new List<(string, int)>();
        for (int i = 0; i < line.Length;)
        {
            if (char.IsWhiteSpace(line[i]))
            {
                i++;
                continue;
            }

            int start = i;
            while (i < line.Length && !char.IsWhiteSpace(line[i]))
            {
                i++;
            }

            fields.Add((line[start..i], start + 1));
        }

        return fields;
    }
}
