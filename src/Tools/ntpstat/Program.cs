using System.Globalization;
using System.Net;
using Meridian.Client;
using Meridian.Protocol;

namespace Meridian.Tools.Ntpstat;

/// <summary>
/// <c>ntpstat</c>: says whether the local daemon is synchronised, to what, how well and how often it polls, as the
/// classic ntpstat does; exit status 0 synchronised, 1 not, 2 daemon unreachable, 3 bad option.
/// </summary>
public static class Program
{
    /// <summary>ntpstat's words for the clock source codes of the system status word.</summary>
    private static readonly string[] Sources = ["unspecified", "atomic clock", "VLF radio", "HF radio", "UHF radio", "local net", "NTP server", "UDP/TIME server", "wristwatch", "modem"];

    public static int Main(string[] args)
    {
        if (args.Length > 0)
        {
            if (args[0] is "-h" or "--help")
            {
                Console.WriteLine("usage: ntpstat\n  prints the synchronisation state of the local ntpd; exit status 0 synchronised, 1 not, 2 daemon unreachable");
                return 0;
            }

            Console.Error.WriteLine($"ntpstat: unknown option '{args[0]}'\nusage: ntpstat");
            return 3;
        }

        string host = Environment.GetEnvironmentVariable("NTPSTAT_HOST") ?? "127.0.0.1";
        ControlResponse response;
        try
        {
            using var client = new ControlClient(new IPEndPoint(IPAddress.Parse(host), 123)) { Timeout = TimeSpan.FromSeconds(2) };
            response = client.ReadVariables(0, "leap,stratum,refid,rootdelay,rootdisp,tc");
        }
        catch (ControlException)
        {
            Console.Error.WriteLine("Unable to talk to NTP daemon. Is it running?");
            return 2;
        }

        Dictionary<string, string> v = response.Values;
        int leap = response.Status >> 14;
        int source = (response.Status >> 8) & 0x3F;
        int stratum = int.TryParse(v.GetValueOrDefault("stratum"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : 16;
        int tc = int.TryParse(v.GetValueOrDefault("tc"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int t) ? t : 6;
        if (leap == 3 || stratum >= 16)
        {
            Console.WriteLine("unsynchronised");
            Console.WriteLine($"   polling server every {1 << tc} s");
            return 1;
        }

        string what = source < Sources.Length ? Sources[source] : "unknown source";
        string refid = v.GetValueOrDefault("refid", "");
        Console.WriteLine(source == 6 ? $"synchronised to {what} ({refid}) at stratum {stratum}" : $"synchronised to {what} at stratum {stratum}");
        double rootDelay = response.Number("rootdelay");
        double rootDispersion = response.Number("rootdisp");
        Console.WriteLine($"   time correct to within {Math.Round(rootDelay / 2 + rootDispersion).ToString("0", CultureInfo.InvariantCulture)} ms");
        Console.WriteLine($"   polling server every {1 << tc} s");
        return 0;
    }
}
