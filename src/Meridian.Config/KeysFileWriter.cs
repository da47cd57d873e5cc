using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Meridian.Config;

/// <summary>
/// A new keys file as <c>ntp-keygen -M</c> writes one: ten MD5 keys of 20 random printable characters (IDs 1–10) and
/// ten SHA1 keys of 40 random hex digits (IDs 11–20), each line marked with its type, under a header naming the file
/// and the time. <see cref="KeyRing.Parse"/> reads it back.
/// </summary>
public static class KeysFileWriter
{
    /// <summary>Printable ASCII without space and '#' (which would start a comment).</summary>
    private const string Printable = "!\"$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

    /// <summary>ntp-keygen's file name: <c>ntpkey_MD5key_HOST.FILESTAMP</c>, the filestamp in NTP seconds.</summary>
    public static string FileName(string host, DateTime utc) =>
        string.Create(CultureInfo.InvariantCulture, $"ntpkey_MD5key_{host}.{(ulong)(utc - new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds}");

    public static string Generate(string host, DateTime utc)
    {
        var text = new StringBuilder();
        text.Append("# ").Append(FileName(host, utc)).Append('\n');
        text.Append("# ").Append(utc.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture)).Append("\n\n");
        for (int id = 1; id <= 10; id++)
        {
            var key = new char[20];
            for (int i = 0; i < key.Length; i++)
            {
                key[i] = Printable[RandomNumberGenerator.GetInt32(Printable.Length)];
            }

            text.Append(CultureInfo.InvariantCulture, $"{id,2} MD5 {new string(key)}  # MD5 key\n");
        }

        for (int id = 11; id <= 20; id++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{id,2} SHA1 {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20))}  # SHA1 key\n");
        }

        return text.ToString();
    }
}
