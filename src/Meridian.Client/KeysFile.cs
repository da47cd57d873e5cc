using System.Text;
using Meridian.Config;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>A key the command line asks for could not be had; the message names the file and the key, never the secret.</summary>
public sealed class KeyException(string message) : Exception(message);

/// <summary>
/// The tools' access to keys: a key of a keys file, read with the daemon's own reader (<see cref="KeyRing"/>), for
/// <c>-a keyid -k keyfile</c>; and a key typed at ntpq's or ntpdc's <c>passwd</c> prompt.
/// </summary>
public static class KeysFile
{
    /// <summary>Key <paramref name="id"/> of the keys file <paramref name="path"/>.</summary>
    /// <exception cref="KeyException">When the file cannot be read or has no such key.</exception>
    public static SymmetricKey Read(string path, uint id)
    {
        var problems = new List<ConfigDiagnostic>();
        KeyRing keys = KeyRing.Read(path, problems);
        if (problems.FirstOrDefault(p => p.Line == 0) is { } unreadable)
        {
            throw new KeyException($"cannot read {path}: {unreadable.Message}");
        }

        return keys[id] ?? throw new KeyException($"key {id} is not in {path}");
    }

    /// <summary>A key as keys files write it: up to 20 characters itself, longer in hex (ntpq's and ntpdc's passwd).</summary>
    public static byte[] Secret(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length > 20 && text.Length % 2 == 0 && text.All(Uri.IsHexDigit) ? Convert.FromHexString(text) : Encoding.ASCII.GetBytes(text);
    }
}
