using System.Globalization;
using Meridian.Protocol;

namespace Meridian.Config;

/// <summary>The keys of a keys file, by ID: the one reader of keys files, for the daemon and every tool.</summary>
public sealed class KeyRing
{
    public static KeyRing Empty { get; } = new(new Dictionary<uint, SymmetricKey>());

    private readonly IReadOnlyDictionary<uint, SymmetricKey> _keys;

    private KeyRing(IReadOnlyDictionary<uint, SymmetricKey> keys) => _keys = keys;

    public int Count => _keys.Count;

    public IEnumerable<uint> Ids => _keys.Keys;

    public SymmetricKey? this[uint id] => _keys.GetValueOrDefault(id);

    /// <summary>Reads the keys file at <paramref name="path"/>; a file that cannot be read is an error diagnostic at line 0.</summary>
    public static KeyRing Read(string path, List<ConfigDiagnostic> diagnostics)
    {
        ArgumentNullException.ThrowIfNull(diagnostics);
        try
        {
            return Parse(File.ReadAllText(path), path, diagnostics);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, path, 0, 0, e is FileNotFoundException or DirectoryNotFoundException ? "the keys file does not exist" : $"cannot read the keys file: {e.Message}"));
            return Empty;
        }
    }

    /// <summary>Reads a keys file: <c>keyid type key [# comment]</c> per line. Problems are diagnostics that name the line, never the key.</summary>
    public static KeyRing Parse(string text, string fileName, List<ConfigDiagnostic> diagnostics)
    {
        var keys = new Dictionary<uint, SymmetricKey>();
        string[] lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            if (hash >= 0)
            {
                line = line[..hash];
            }

            string[] fields = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0)
            {
                continue;
            }

            void Problem(int field, string message)
            {
                int column = field < fields.Length ? lines[n].IndexOf(fields[field], StringComparison.Ordinal) + 1 : lines[n].TrimEnd().Length + 2;
                diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, fileName, n + 1, Math.Max(column, 1), message));
            }

            if (!int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id < 1 || id > 65535)
            {
                Problem(0, $"key ID must be a number from 1 to 65535, not '{fields[0]}'");
                continue;
            }

            if (fields.Length < 3)
            {
                Problem(fields.Length, fields.Length == 1 ? $"key {id}: expected a type (M, MD5, SHA1, SHA256, AES128CMAC, ...) and a key" : $"key {id}: expected the key after the type");
                continue;
            }

            if (Mac.ParseName(fields[1]) is not MacAlgorithm type)
            {
                Problem(1, $"key {id}: unknown key type '{fields[1]}' (M, MD5, SHA1, SHA256, SHA384, SHA512, AES128CMAC)");
                continue;
            }

            if (fields.Length > 3)
            {
                Problem(3, $"key {id}: unexpected text after the key (a key cannot contain spaces or '#')");
                continue;
            }

            if (DecodeSecret(fields[2], type) is not byte[] secret)
            {
                Problem(2, $"key {id}: a key is up to 20 printable characters or an even number of hex digits (40 for MD5/SHA1)");
                continue;
            }

            if (type == MacAlgorithm.Aes128Cmac && secret.Length != 16)
            {
                Problem(2, $"key {id}: AES128CMAC needs a 128-bit key (32 hex digits or 16 characters), not {secret.Length * 8} bits");
                continue;
            }

            if (!keys.TryAdd((uint)id, new SymmetricKey((uint)id, type, secret)))
            {
                Problem(0, $"key {id} is defined twice; the first definition is kept");
            }
        }

        return new KeyRing(keys);
    }

    /// <summary>
    /// A key as written in a keys file or typed at ntpq's and ntpdc's <c>passwd</c>, by ntpd's rule: up to 20
    /// characters are the key itself (printable ASCII); longer, it must be hex. Null when it is neither.
    /// </summary>
    public static byte[]? DecodeSecret(string text, MacAlgorithm type)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length <= 20 && !(type == MacAlgorithm.Aes128Cmac && text.Length == 32))
        {
            return text.All(c => c > ' ' && c < 127) ? System.Text.Encoding.ASCII.GetBytes(text) : null;
        }

        if (text.Length % 2 != 0 || !text.All(Uri.IsHexDigit))
        {
            return null;
        }

        return Convert.FromHexString(text);
    }
}
