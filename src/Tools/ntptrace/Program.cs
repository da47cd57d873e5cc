using System.Globalization;
using System.Net;
using Meridian.Host.Client;
using Meridian.Host.CommandLine;

namespace Meridian.Tools.Ntptrace;

/// <summary>
/// <c>ntptrace [-n] [-m maxhosts] [-r host] [host]</c>: follows the chain of system peers with mode 6 from a host to
/// the primary source, one line per hop, stopping at stratum 1, at a loop, or at a host that does not answer.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (!new GetOpt("nm:r:", new Dictionary<string, (string, bool)>()).TryParse(args, out var options, out var operands, out string? error) || operands.Count > 1)
        {
            Console.Error.WriteLine($"ntptrace: {error ?? "too many hosts"}\nusage: ntptrace [-n] [-m maxhosts] [host]");
            return 2;
        }

        bool numeric = options.Any(o => o.Name == "n");
        int max = options.FirstOrDefault(o => o.Name == "m") is { Value: string m } && int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 99;
        string host = operands.Count == 1 ? operands[0] : "localhost";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int hop = 0; hop < max; hop++)
        {
            string label = host;
            Dictionary<string, string> v;
            try
            {
                using var client = new ControlClient(ControlClient.Resolve(host)) { Timeout = TimeSpan.FromSeconds(2) };
                label = hop == 0 ? host : numeric ? client.Server.Address.ToString() : NameOf(client.Server.Address);
                v = client.ReadVariables(0, "stratum,offset,rootdelay,rootdisp,refid,peer")
                    .Variables.Where(x => x.Value is not null).ToDictionary(x => x.Key, x => x.Value!.Trim('"'), StringComparer.Ordinal);
            }
            catch (ControlException)
            {
                Console.WriteLine($"{label}: *Timeout*");
                return 1;
            }

            int stratum = int.TryParse(v.GetValueOrDefault("stratum"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : 16;
            double offset = Number(v, "offset") / 1000;
            double distance = (Number(v, "rootdisp") + Number(v, "rootdelay") / 2) / 1000;
            string refid = v.GetValueOrDefault("refid", "");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}: stratum {stratum}, offset {offset:0.0000000}, synch distance {distance:0.000000}, refid '{refid}'"));
            if (stratum <= 1 || stratum >= 16 || !IPAddress.TryParse(refid, out IPAddress? next) || !refid.Contains('.', StringComparison.Ordinal)
                || next.GetAddressBytes() is [127, ..] || !seen.Add(refid))
            {
                return 0;
            }

            host = refid;
        }

        return 0;
    }

    private static double Number(Dictionary<string, string> v, string name) =>
        double.TryParse(v.GetValueOrDefault(name), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : 0;

    private static string NameOf(IPAddress address)
    {
        try
        {
            return Dns.GetHostEntry(address).HostName;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return address.ToString();
        }
    }
}
