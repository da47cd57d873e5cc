using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Client;
using Meridian.Client.CommandLine;
using Meridian.Protocol;

namespace Meridian.Tools.Ntpdc;

/// <summary>
/// <c>ntpdc</c>: ntpd 4.2.8's query and change tool with its commands and output (times in seconds), carried over
/// mode 6 instead of mode 7 (which Meridian's daemon never answers). Changes go as authenticated <c>:config</c>
/// text, so they need the daemon's control key.
/// </summary>
public static class Program
{
    public const string Version = "ntpdc Meridian 0.1.0 (over mode 6)";

    private const string Usage = """
        usage: ntpdc [-46dilnps] [-a keyid -k keyfile] [-c command]... [host...]
          -4, -6        use IPv4 / IPv6 for host names
          -a keyid      authenticate changes with this key of the keys file
          -k keyfile    keys file for -a (default /etc/ntp.keys)
          -c command    run command (repeatable); without -c, -l, -p or -s, read commands from standard input
          -d            debugging output
          -i            interactive
          -l            listpeers
          -n            numeric addresses, no name lookups
          -p            peers
          -s            showpeer for every association
        """;

    private static readonly string[] Commands =
    [
        "peers", "listpeers", "showpeer", "sysinfo", "sysstats", "loopinfo", "kerninfo", "iostats", "addserver", "addpeer",
        "unconfig", "enable", "disable", "restrict", "unrestrict", "readkeys", "trustedkey", "keyid", "keytype", "passwd",
        "host", "timeout", "version", "help", "quit", "exit",
    ];

    public static int Main(string[] args)
    {
        if (!new GetOpt("46a:c:dik:lnps", new Dictionary<string, (string, bool)> { ["version"] = ("version", false), ["help"] = ("help", false) })
            .TryParse(args, out var options, out var hosts, out string? error))
        {
            Console.Error.WriteLine($"ntpdc: {error}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var session = new ControlSession("ntpdc");
        var commands = new List<string>();
        bool interactive = false;
        string keyFile = "/etc/ntp.keys";
        uint? keyId = null;
        foreach (ParsedOption option in options)
        {
            switch (option.Name)
            {
                case "4": session.Family = AddressFamily.InterNetwork; break;
                case "6": session.Family = AddressFamily.InterNetworkV6; break;
                case "c": commands.Add(option.Value!); break;
                case "l": commands.Add("listpeers"); break;
                case "p": commands.Add("peers"); break;
                case "s": commands.Add("showpeer"); break;
                case "n": session.Numeric = true; break;
                case "i": interactive = true; break;
                case "d": break;
                case "k": keyFile = option.Value!; break;
                case "a":
                    if (!uint.TryParse(option.Value, NumberStyles.None, CultureInfo.InvariantCulture, out uint id))
                    {
                        Console.Error.WriteLine($"ntpdc: -a needs a key ID, not '{option.Value}'");
                        return 2;
                    }

                    keyId = id;
                    break;
                case "version": Console.WriteLine(Version); return 0;
                case "help": Console.WriteLine(Usage); return 0;
            }
        }

        if (keyId is uint wanted && !session.LoadKey(keyFile, wanted))
        {
            return 1;
        }

        var shell = new CommandShell(session, "ntpdc> ", Commands, (command, rest) => Execute(session, command, rest))
        {
            Aliases = new Dictionary<string, string> { ["peer"] = "peers" },
        };
        return shell.Run(hosts, commands, interactive);
    }

    /// <summary>Runs one ntpdc command; false when it failed.</summary>
    private static bool Execute(ControlSession session, string command, string[] rest)
    {
        ControlClient client = session.Client!;
        try
        {
            switch (command)
            {
                case "peers":
                    Console.WriteLine(NtpdcFormat.PeersHeader);
                    Console.WriteLine(NtpdcFormat.PeersRule);
                    foreach ((ushort id, bool systemPeer, Dictionary<string, string> v) in Associations(client))
                    {
                        Console.WriteLine(NtpdcFormat.PeerLine(systemPeer, v, session.Names));
                    }

                    return true;
                case "listpeers":
                    foreach ((_, _, Dictionary<string, string> v) in Associations(client))
                    {
                        Console.WriteLine(NtpdcFormat.ListPeerLine(v, session.Names));
                    }

                    return true;
                case "showpeer":
                    return ShowPeer(session, rest);
                case "sysinfo":
                    SystemInfo(session);
                    return true;
                case "sysstats":
                    Console.Write(NtpdcFormat.SystemStatistics(Named(client, "ss_uptime,ss_reset,ss_received,ss_processed,ss_thisver,ss_oldver,ss_declined,ss_restricted,ss_badformat,ss_badauth,ss_limited")));
                    return true;
                case "loopinfo":
                    Console.Write(NtpdcFormat.LoopInfo(Named(client, "offset,frequency,tc,watchdog")));
                    return true;
                case "kerninfo":
                    Console.Write(NtpdcFormat.KernelInfo(Named(client, "koffset,kfreq,kmaxerr,kesterr,kstflags,ktimeconst,kprecis,kfreqtol")));
                    return true;
                case "iostats":
                    Console.Write(NtpdcFormat.IoStatistics(Named(client, "iostats_reset,total_rbuf,free_rbuf,used_rbuf,rbuf_lowater,io_dropped,io_ignored,io_received,io_sent,io_sendfailed,io_wakeups,io_goodwakeups")));
                    return true;
                case "addserver" or "addpeer":
                    return Change(session, NtpdcFormat.AssociationLine(command == "addserver" ? "server" : "peer", rest));
                case "unconfig":
                    return Change(session, string.Join('\n', rest.Select(a => "unpeer " + a)));
                case "enable" or "disable":
                    return Change(session, command + " " + string.Join(' ', rest));
                case "restrict" or "unrestrict":
                    return rest.Length < 2
                        ? Fail($"***usage: {command} address mask flag [flag ...]")
                        : Change(session, $"{command} {rest[0]} mask {string.Join(' ', rest[1..])}");
                case "readkeys":
                    return Change(session, "readkeys");
                case "trustedkey":
                    return Change(session, "trustedkey " + string.Join(' ', rest));
                case "version":
                    Console.WriteLine(Version);
                    return true;
                case "help":
                    Console.WriteLine("ntpdc commands:\n" + string.Join('\n', Commands.Chunk(6).Select(c => "  " + string.Join(' ', c.Select(x => x.PadRight(12))).TrimEnd())));
                    return true;
                default:
                    return true;
            }
        }
        catch (ControlException e)
        {
            Console.Error.WriteLine(e.Message);
            return false;
        }
    }

    private static bool Fail(string message)
    {
        Console.Error.WriteLine(message);
        return false;
    }

    private static Dictionary<string, string> Named(ControlClient client, string names) => client.ReadVariables(0, names).Values;

    /// <summary>Every association with its peer variables and whether it is the system peer.</summary>
    private static List<(ushort Id, bool SystemPeer, Dictionary<string, string> Variables)> Associations(ControlClient client)
    {
        (_, List<(ushort Id, ushort Status)> list) = client.ReadStatus();
        return list.ConvertAll(a => (a.Id, ((a.Status >> 8) & 7) == 6, client.ReadVariables(a.Id).Values));
    }

    /// <summary>showpeer [address...]: the long form, for the named addresses or every association.</summary>
    private static bool ShowPeer(ControlSession session, string[] addresses)
    {
        var all = Associations(session.Client!);
        var chosen = addresses.Length == 0 ? all : all.Where(a => addresses.Contains(a.Variables.GetValueOrDefault("srcadr"))).ToList();
        if (chosen.Count == 0)
        {
            return Fail($"***No association for {string.Join(' ', addresses)}");
        }

        for (int i = 0; i < chosen.Count; i++)
        {
            if (i > 0)
            {
                Console.WriteLine();
            }

            // The listing already holds the peer variables; the poll timer is answered only when named.
            (ushort id, bool systemPeer, Dictionary<string, string> v) = chosen[i];
            foreach ((string key, string value) in session.Client!.ReadVariables(id, "timer").Values)
            {
                v[key] = value;
            }

            Console.Write(NtpdcFormat.ShowPeer(id, systemPeer, v, session.Names));
        }

        return true;
    }

    private static void SystemInfo(ControlSession session)
    {
        ControlClient client = session.Client!;
        Dictionary<string, string> v = client.ReadVariables().Values;
        foreach ((string key, string value) in Named(client, "sys_flags,bcastdelay,authdelay"))
        {
            v[key] = value;
        }

        string peer = "0.0.0.0";
        int mode = 0;
        if (ushort.TryParse(v.GetValueOrDefault("peer"), NumberStyles.None, CultureInfo.InvariantCulture, out ushort id) && id != 0)
        {
            Dictionary<string, string> p = client.ReadVariables(id, "srcadr,hmode").Values;
            peer = IPAddress.TryParse(p.GetValueOrDefault("srcadr"), out IPAddress? address) && session.Names is { } names
                ? ControlFormat.RefclockName(address) ?? names(address)
                : p.GetValueOrDefault("srcadr", peer);
            mode = int.TryParse(p.GetValueOrDefault("hmode"), NumberStyles.None, CultureInfo.InvariantCulture, out int m) ? m : 0;
        }

        Console.Write(NtpdcFormat.SystemInfo(v, peer, mode));
    }

    /// <summary>Sends a change as authenticated <c>:config</c> text and prints ntpdc's "done!" when the daemon took it.</summary>
    private static bool Change(ControlSession session, string text)
    {
        ControlResponse response = session.Client!.Query(ControlOpcode.Configure, 0, text, authenticate: true);
        string answer = response.Text.TrimEnd('\0', '\r', '\n');
        if (answer.StartsWith("Config Succeeded", StringComparison.Ordinal))
        {
            Console.WriteLine("done!");
            if (answer.Length > "Config Succeeded".Length)
            {
                Console.Error.WriteLine(answer["Config Succeeded; ".Length..]);
            }

            return true;
        }

        Console.Error.WriteLine(answer);
        return false;
    }
}
