using Meridian.Config;

namespace Meridian.Tools.Ntpkeygen;

/// <summary>
/// <c>ntpkeygen -M</c>: writes a new symmetric keys file as <c>ntp-keygen -M</c> does (ten MD5 and ten SHA1 keys) into
/// the current directory, readable by its owner only (0600), written atomically, with the link <c>ntp.keys</c> to it.
/// Autokey's certificates and keys are not made: Meridian does not speak Autokey.
/// </summary>
public static class Program
{
    public const string Version = "ntpkeygen Meridian 0.1.0";

    private const string Usage = """
        usage: ntpkeygen -M [-s host]
          -M         generate MD5 and SHA1 symmetric keys (ntp.keys)
          -s host    the host name in the file name (default: this host)
        Autokey options (-c -G -H -I -P -S -T ...) are not supported: Autokey is not.
        """;

    public static int Main(string[] args)
    {
        bool md5 = false;
        string host = Environment.MachineName;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-M":
                    md5 = true;
                    break;
                case "-s" when i + 1 < args.Length:
                    host = args[++i];
                    break;
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return 0;
                case "-V" or "--version":
                    Console.WriteLine(Version);
                    return 0;
                default:
                    Console.Error.WriteLine($"ntpkeygen: option {args[i]} is not supported");
                    Console.Error.WriteLine(Usage);
                    return 1;
            }
        }

        if (!md5)
        {
            Console.Error.WriteLine(Usage);
            return 1;
        }

        DateTime now = DateTime.UtcNow;
        string name = KeysFileWriter.FileName(host, now);
        try
        {
            Write(name, KeysFileWriter.Generate(host, now));
            if (File.Exists("ntp.keys") || new FileInfo("ntp.keys").LinkTarget is not null)
            {
                File.Delete("ntp.keys");
            }

            File.CreateSymbolicLink("ntp.keys", name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"ntpkeygen: {e.Message}");
            return 1;
        }

        Console.WriteLine($"Generating new md5 file and link\nntp.keys->{name}");
        return 0;
    }

    /// <summary>Write, fsync, rename, 0600 from the start: a keys file is a secret.</summary>
    private static void Write(string path, string text) => Meridian.Host.AtomicFile.Write(path, text, ownerOnly: true);
}
