using Meridian.Config;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>A key the command line asks for could not be had; the message names the file and the key, never the secret.</summary>
public sealed class KeyException(string message) : Exception(message);

/// <summary>
/// The tools' access to keys: a key of a keys file, read with the daemon's own reader (<see cref="KeyRing"/>), for
/// <c>-a keyid -k keyfile</c>. A key typed at ntpq's or ntpdc's <c>passwd</c> is decoded by the same reader's rule
/// (<see cref="KeyRing.DecodeSecret"/>).
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
}
