using System.Globalization;
using System.Net;
using Meridian.Client;
using Meridian.Client.CommandLine;

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
            ControlResponse response;
            try
            {
                using var client = new ControlClient(ControlClient.Resolve(host)) { Timeout = TimeSpan.FromSeconds(2) };
                label = hop == 0 ? host : numeric ? client.Server.Address.ToString() : ControlResponse.NameOf(client.Server.Address);
                response = client.ReadVariables(0, "stratum,offset,rootdelay,rootdisp,refid,peer");
            }
            catch (ControlException)
            {
                Console.WriteLine($"{label}: *Timeout*");
                return 1;
            }

            Dictionary<string, string> v = response.Values;
            int stratum = int.TryParse(v.GetValueOrDefault("stratum"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : 16;
            double offset = response.Number("offset") / 1000;
            double distance = (response.Number("rootdisp") + response.Number("rootdelay") / 2) / 1000;
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
}
