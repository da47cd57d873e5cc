using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Meridian.Host;
using Meridian.Client;
using Meridian.Client.CommandLine;
using Meridian.Protocol;

namespace Meridian.Tools.Ntpq;

/// <summary>
/// <c>ntpq</c>: queries NTP daemons with mode 6 and prints what ntpd 4.2.8's ntpq prints (the peers billboard, the
/// associations table, readvar lists); <c>--json</c> prints the same data as JSON.
/// </summary>
public static class Program
{
    public const string Version = "ntpq Meridian 0.1.0";

    private const string Usage = """
        usage: ntpq [-46dinpw] [-a keyid -k keyfile] [--json] [-c command]... [host...]
          -a keyid      authenticate with this key of the keys file (NTPsec's option)
          -k keyfile    keys file for -a (default /etc/ntp.keys)
          -4, -6        use IPv4 / IPv6 for host names
          -c command    run command (repeatable); without -c or -p, read commands from standard input
          -d            debugging output
          -i            interactive (the default without -c/-p)
          -n            numeric addresses, no name lookups
          -p            print the peers billboard (same as -c peers)
          -w            wide peers output: long names on a line of their own
              --json    print data commands as JSON
        """;

    private static readonly string[] Commands =
    [
        "peers", "lpeers", "opeers", "apeers", "associations", "lassociations", "passociations", "readvar", "rv",
        "clockvar", "cv", "writevar", "pstats", "sysinfo", "sysstats", "iostats", "kerninfo", "authinfo", "monstats", "ntsinfo",
        "mrulist", ":config", "config-from-file", "host", "hostnames", "keyid", "keytype", "passwd", "timeout", "raw",
        "cooked", "version", "help", "quit", "exit",
    ];

    private sealed class Session
    {
        /// <summary>The daemon asked, name display and the key: shared with ntpdc.</summary>
        public ControlSession Control { get; } = new("ntpq");

        public ControlClient? Client => Control.Client;

        public bool Numeric
        {
            get => Control.Numeric;
            set => Control.Numeric = value;
        }

        public bool Raw { get; set; }

        public bool Json { get; set; }

        public bool Wide { get; set; }

        /// <summary>Association IDs of the last listing, for the &N references of readvar.</summary>
        public List<ushort> LastAssociations { get; } = new();
    }

    public static int Main(string[] args)
    {
        if (!new GetOpt("46a:c:dik:npw", new Dictionary<string, (string, bool)> { ["json"] = ("json", false), ["version"] = ("version", false), ["help"] = ("help", false) })
            .TryParse(args, out var options, out var hosts, out string? error))
        {
            Console.Error.WriteLine($"ntpq: {error}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var session = new Session();
        var commands = new List<string>();
        bool interactive = false;
        string keyFile = "/etc/ntp.keys";
        uint? wantedKey = null;
        foreach (ParsedOption option in options)
        {
            switch (option.Name)
            {
                case "4": session.Control.Family = AddressFamily.InterNetwork; break;
                case "6": session.Control.Family = AddressFamily.InterNetworkV6; break;
                case "c": commands.Add(option.Value!); break;
                case "p": commands.Add("peers"); break;
                case "n": session.Numeric = true; break;
                case "i": interactive = true; break;
                case "w": session.Wide = true; break;
                case "d": break;
                case "a":
                    if (!uint.TryParse(option.Value, NumberStyles.None, CultureInfo.InvariantCulture, out uint keyId))
                    {
                        Console.Error.WriteLine($"ntpq: -a needs a key ID, not '{option.Value}'");
                        return 2;
                    }

                    wantedKey = keyId;
                    break;
                case "k": keyFile = option.Value!; break;
                case "json": session.Json = true; break;
                case "version": Console.WriteLine(Version); return 0;
                case "help": Console.WriteLine(Usage); return 0;
            }
        }

        if (wantedKey is uint wanted && !session.Control.LoadKey(keyFile, wanted))
        {
            return 1;
        }

        var shell = new CommandShell(session.Control, "ntpq> ", Commands, (command, rest) => Execute(session, command, rest))
        {
            Aliases = new Dictionary<string, string> { ["as"] = "associations" },
            BeforeHost = host =>
            {
                if (!session.Json)
                {
                    Console.WriteLine($"server={host} ");
                }
            },
        };
        return shell.Run(hosts, commands, interactive);
    }

    /// <summary>Runs one ntpq command; false when it failed.</summary>
    private static bool Execute(Session session, string command, string[] rest)
    {
        try
        {
            switch (command)
            {
                case "peers" or "lpeers" or "opeers" or "apeers":
                    Peers(session);
                    return true;
                case "associations" or "lassociations" or "passociations":
                    Associations(session);
                    return true;
                case "readvar" or "rv":
                    ReadVar(session, rest);
                    return true;
                case "sysinfo":
                    ReadVar(session, ["0", "peer,stratum,refid,leap,precision,rootdelay,rootdisp,reftime,offset,sys_jitter,clk_jitter,frequency,clk_wander"]);
                    return true;
                case "hostnames":
                    if (rest.Length > 0)
                    {
                        session.Numeric = rest[0] == "no";
                    }

                    Console.WriteLine(session.Numeric ? "hostnames not being written" : "hostnames being written");
                    return true;
                case "raw":
                    session.Raw = true;
                    Console.WriteLine("Output set to raw");
                    return true;
                case "cooked":
                    session.Raw = false;
                    Console.WriteLine("Output set to cooked");
                    return true;
                case "version":
                    Console.WriteLine(Version);
                    return true;
                case "help":
                    Console.WriteLine("ntpq commands:\n" + string.Join('\n', Commands.Chunk(6).Select(c => "  " + string.Join(' ', c.Select(x => x.PadRight(18))).TrimEnd())));
                    return true;
                case "quit" or "exit":
                    return true;
                case "mrulist":
                    MruList(session);
                    return true;
                case ":config":
                    Configure(session, string.Join(' ', rest));
                    return true;
                case "config-from-file":
                    if (rest.Length == 0)
                    {
                        Console.Error.WriteLine("***config-from-file needs a file name");
                        return false;
                    }

                    Configure(session, File.ReadAllText(rest[0]));
                    return true;
                case "sysstats" or "iostats" or "kerninfo" or "authinfo" or "monstats":
                    Display(session, 0, SystemDisplays[command].Rows, SystemDisplays[command].DecodeStatus);
                    return true;
                case "ntsinfo":
                    Display(session, 0, NtsInfoRows, decodeStatus: false, ntpsecLayout: true);
                    return true;
                case "pstats":
                    if (rest.Length == 0)
                    {
                        Console.Error.WriteLine("***usage: pstats assocID");
                        return false;
                    }

                    Display(session, AssociationOf(session, rest[0]), PeerStatsRows, decodeStatus: true);
                    return true;
                case "clockvar" or "cv":
                    ClockVar(session, rest);
                    return true;
                case "writevar":
                    WriteVar(session, rest);
                    return true;
            }
        }
        catch (ControlException e)
        {
            Console.Error.WriteLine(e.Message);
            return false;
        }

        return false;
    }

    private static void Peers(Session session)
    {
        ControlClient client = session.Client!;
        (_, List<(ushort Id, ushort Status)> list) = client.ReadStatus();
        session.LastAssociations.Clear();
        session.LastAssociations.AddRange(list.Select(a => a.Id));
        var rows = new List<(char Tally, Dictionary<string, string> Vars)>();
        foreach ((ushort id, ushort status) in list)
        {
            ControlResponse response = client.ReadVariables(id);
            var vars = response.Values;
            rows.Add((ControlFormat.Tally(response.Status), vars));
        }

        if (session.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(rows.Select(r => new Dictionary<string, string>(r.Vars) { ["tally"] = r.Tally.ToString() }), JsonOptions));
            return;
        }

        Console.WriteLine(ControlFormat.PeersHeader);
        Console.WriteLine(ControlFormat.PeersRule);
        NtpTimestamp now = LinuxClock.Instance.Now();
        Func<IPAddress, string>? names = session.Numeric ? null : ControlResponse.NameOf;
        foreach ((char tally, Dictionary<string, string> vars) in rows)
        {
            string line = ControlFormat.PeerLine(tally, vars, now, names);
            if (session.Wide && names is not null && IPAddress.TryParse(vars.GetValueOrDefault("srcadr"), out IPAddress? a) && ControlResponse.NameOf(a).Length > 15)
            {
                Console.WriteLine(tally + ControlResponse.NameOf(a));
                line = new string(' ', 16) + line[16..];
            }

            Console.WriteLine(line);
        }
    }

    private static void Associations(Session session)
    {
        (_, List<(ushort Id, ushort Status)> list) = session.Client!.ReadStatus();
        session.LastAssociations.Clear();
        session.LastAssociations.AddRange(list.Select(a => a.Id));
        if (session.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(list.Select((a, i) => new { ind = i + 1, assid = a.Id, status = a.Status.ToString("x4", CultureInfo.InvariantCulture) }), JsonOptions));
            return;
        }

        Console.WriteLine();
        Console.WriteLine(ControlFormat.AssociationsHeader);
        Console.WriteLine(ControlFormat.AssociationsRule);
        for (int i = 0; i < list.Count; i++)
        {
            Console.WriteLine(ControlFormat.AssociationLine(i + 1, list[i].Id, list[i].Status));
        }
    }

    private static void ReadVar(Session session, string[] args)
    {
        (ushort id, string[] rest) = LeadingAssociation(session, args);
        string names = string.Join(',', rest);
        ControlResponse response = session.Client!.ReadVariables(id, names);
        List<KeyValuePair<string, string?>> variables = response.Variables;
        if (session.Json)
        {
            var obj = new Dictionary<string, string?> { ["associd"] = id.ToString(CultureInfo.InvariantCulture), ["status"] = response.Status.ToString("x4", CultureInfo.InvariantCulture) };
            foreach ((string key, string? value) in variables)
            {
                obj[key] = value;
            }

            Console.WriteLine(JsonSerializer.Serialize(obj, JsonOptions));
            return;
        }

        Console.WriteLine(ControlFormat.StatusLine(id, response.Status, session.Raw));
        Console.Write(ControlFormat.Variables(variables, session.Raw));
    }

    // The labels of ntpd 4.2.8's ntpq, padded to 22 columns; two spaces go between label and value.
    private static readonly (string Name, string Label)[] SysStatsRows =
    [
        ("ss_uptime", "uptime:"), ("ss_reset", "sysstats reset:"), ("ss_received", "packets received:"),
        ("ss_thisver", "current version:"), ("ss_oldver", "older version:"), ("ss_badformat", "bad length or format:"),
        ("ss_badauth", "authentication failed:"), ("ss_declined", "declined:"), ("ss_restricted", "restricted:"),
        ("ss_limited", "rate limited:"), ("ss_kodsent", "KoD responses:"), ("ss_processed", "processed for time:"),
    ];

    private static readonly (string Name, string Label)[] IoStatsRows =
    [
        ("iostats_reset", "time since reset:"), ("total_rbuf", "receive buffers:"), ("free_rbuf", "free receive buffers:"),
        ("used_rbuf", "used receive buffers:"), ("rbuf_lowater", "low water refills:"), ("io_dropped", "dropped packets:"),
        ("io_ignored", "ignored packets:"), ("io_received", "received packets:"), ("io_sent", "packets sent:"),
        ("io_sendfailed", "packet send failures:"), ("io_wakeups", "input wakeups:"), ("io_goodwakeups", "useful input wakeups:"),
    ];

    private static readonly (string Name, string Label)[] KernInfoRows =
    [
        ("koffset", "pll offset:"), ("kfreq", "pll frequency:"), ("kmaxerr", "maximum error:"), ("kesterr", "estimated error:"),
        ("kstflags", "kernel status:"), ("ktimeconst", "pll time constant:"), ("kprecis", "precision:"),
        ("kfreqtol", "frequency tolerance:"), ("kppsfreq", "pps frequency:"), ("kppsstab", "pps stability:"),
        ("kppsjitter", "pps jitter:"), ("kppscalibdur", "calibration interval:"), ("kppscalibs", "calibration cycles:"),
        ("kppsjitexc", "jitter exceeded:"), ("kppsstbexc", "stability exceeded:"), ("kppscaliberrs", "calibration errors:"),
    ];

    private static readonly (string Name, string Label)[] AuthInfoRows =
    [
        ("authreset", "time since reset:"), ("authkeys", "stored keys:"), ("authfreek", "free keys:"),
        ("authklookups", "key lookups:"), ("authknotfound", "keys not found:"), ("authkuncached", "uncached keys:"),
        ("authkexpired", "expired keys:"), ("authencrypts", "encryptions:"), ("authdecrypts", "decryptions:"),
    ];

    private static readonly (string Name, string Label)[] MonStatsRows =
    [
        ("mru_enabled", "enabled:"), ("mru_depth", "addresses:"), ("mru_deepest", "peak addresses:"),
        ("mru_maxdepth", "maximum addresses:"), ("mru_mindepth", "reclaim above count:"), ("mru_maxage", "reclaim older than:"),
        ("mru_mem", "kilobytes:"), ("mru_maxmem", "maximum kilobytes:"),
    ];

    /// <summary>The labelled displays of system variables, and whether each starts with the decoded status line.</summary>
    private static readonly Dictionary<string, ((string Name, string Label)[] Rows, bool DecodeStatus)> SystemDisplays = new(StringComparer.Ordinal)
    {
        ["sysstats"] = (SysStatsRows, false),
        ["iostats"] = (IoStatsRows, false),
        ["kerninfo"] = (KernInfoRows, true),
        ["authinfo"] = (AuthInfoRows, false),
        ["monstats"] = (MonStatsRows, false),
    };

    /// <summary>NTPsec's <c>ntsinfo</c>: its labels, its order, its layout (ntpd 4.2.8 has no NTS).</summary>
    private static readonly (string Name, string Label)[] NtsInfoRows =
    [
        ("nts_client_send", "NTS client sends:          "), ("nts_client_recv_good", "NTS client recvs good:     "),
        ("nts_client_recv_bad", "NTS client recvs w error:  "), ("nts_server_recv_good", "NTS server recvs good:     "),
        ("nts_server_recv_bad", "NTS server recvs w error:  "), ("nts_server_send", "NTS server sends:          "),
        ("nts_cookie_make", "NTS make cookies:          "), ("nts_cookie_decode", "NTS decode cookies:        "),
        ("nts_cookie_decode_old", "NTS decode cookies old:    "), ("nts_cookie_decode_old2", "NTS decode cookies old2:   "),
        ("nts_cookie_decode_older", "NTS decode cookies older:  "), ("nts_cookie_decode_too_old", "NTS decode cookies too old:"),
        ("nts_cookie_decode_error", "NTS decode cookies error:  "), ("nts_ke_probes_good", "NTS KE client probes good: "),
        ("nts_ke_probes_bad", "NTS KE client probes bad:  "), ("nts_ke_serves_good", "NTS KE serves good:        "),
        ("nts_ke_serves_bad", "NTS KE serves bad:         "),
    ];

    private static readonly (string Name, string Label)[] PeerStatsRows =
    [
        ("srcadr", "remote host:"), ("dstadr", "local address:"), ("timerec", "time last received:"),
        ("timer", "time until next send:"), ("timereach", "reachability change:"), ("sent", "packets sent:"),
        ("received", "packets received:"), ("badauth", "bad authentication:"), ("bogusorg", "bogus origin:"),
        ("oldpkt", "duplicate:"), ("seldisp", "bad dispersion:"), ("selbroken", "bad reference time:"),
        ("candidate", "candidate order:"),
    ];

    /// <summary>
    /// The labelled displays (sysstats, iostats, kerninfo, authinfo, monstats, pstats): one query naming every
    /// variable, then one line per variable the daemon returned, as ntpd 4.2.8's ntpq prints them.
    /// </summary>
    private static void Display(Session session, ushort associationId, (string Name, string Label)[] rows, bool decodeStatus, bool ntpsecLayout = false)
    {
        ControlResponse response;
        Dictionary<string, string> values;
        try
        {
            response = session.Client!.ReadVariables(associationId, string.Join(',', rows.Select(r => r.Name)));
            values = response.Values;
        }
        catch (ControlException e) when (e.Error == ControlError.UnknownVariable)
        {
            // An older or other daemon lacks some of them: ask one at a time and show those it has, as ntpq does.
            Console.Error.WriteLine("Unknown variable.  Trying one at a time.");
            response = session.Client!.ReadVariables(associationId, "");
            values = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach ((string name, _) in rows)
            {
                try
                {
                    foreach ((string key, string value) in session.Client.ReadVariables(associationId, name).Values)
                    {
                        values[key] = value;
                    }
                }
                catch (ControlException one) when (one.Error == ControlError.UnknownVariable)
                {
                }
            }
        }

        if (session.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(values, JsonOptions));
            return;
        }

        if (session.Raw)
        {
            Console.WriteLine(ControlFormat.StatusLine(associationId, response.Status, raw: true));
            Console.Write(ControlFormat.Variables(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)), raw: true));
            return;
        }

        if (decodeStatus)
        {
            Console.WriteLine(ControlFormat.StatusLine(associationId, response.Status, raw: false));
        }

        Console.Write(ntpsecLayout ? ControlFormat.NtpsecLabelled(rows, values) : ControlFormat.Labelled(rows, values));
    }

    /// <summary>An association argument: a number, or &amp;N for the Nth of the last listing.</summary>
    private static ushort AssociationOf(Session session, string text)
    {
        if (text.StartsWith('&') && int.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            if (session.LastAssociations.Count == 0)
            {
                session.LastAssociations.AddRange(session.Client!.ReadStatus().Associations.Select(a => a.Id));
            }

            return index >= 1 && index <= session.LastAssociations.Count ? session.LastAssociations[index - 1] : throw new ControlException($"***No such association as {index}.");
        }

        return ushort.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ushort id) ? id : throw new ControlException($"***Invalid association ID {text}");
    }

    /// <summary>An optional association (a number or &amp;N) before the variable names; 0 when there is none.</summary>
    private static (ushort Id, string[] Names) LeadingAssociation(Session session, string[] args) =>
        args.Length > 0 && (args[0].StartsWith('&') || char.IsAsciiDigit(args[0][0])) ? (AssociationOf(session, args[0]), args[1..]) : ((ushort)0, args);

    /// <summary>clockvar [assocID] [name,...]: a reference clock's variables (READCLOCK).</summary>
    private static void ClockVar(Session session, string[] args)
    {
        (ushort id, string[] names) = LeadingAssociation(session, args);
        ControlResponse response = session.Client!.Query(ControlOpcode.ReadClock, id, string.Join(',', names));
        if (session.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(response.Values, JsonOptions));
            return;
        }

        Console.WriteLine(ControlFormat.ClockStatusLine(response.AssociationId, response.Status, session.Raw));
        Console.Write(ControlFormat.Variables(response.Variables, session.Raw));
    }

    /// <summary>writevar assocID name=value[,...]: authenticated WRITEVAR (only setvar variables are writable).</summary>
    private static void WriteVar(Session session, string[] args)
    {
        if (args.Length < 2)
        {
            throw new ControlException("***usage: writevar assocID name=value,[...]");
        }

        ushort id = AssociationOf(session, args[0]);
        ControlResponse response = session.Client!.Query(ControlOpcode.WriteVariables, id, string.Join(' ', args[1..]), authenticate: true);
        if (response.Data.Length == 0)
        {
            Console.WriteLine("done! (no data returned)");
            return;
        }

        Console.WriteLine(ControlFormat.StatusLine(id, response.Status, session.Raw));
        Console.Write(ControlFormat.Variables(response.Variables, session.Raw));
    }

    /// <summary>:config: the text goes to the daemon as ntp.conf lines, authenticated; its answer is printed.</summary>
    private static void Configure(Session session, string text)
    {
        ControlResponse response = session.Client!.Query(ControlOpcode.Configure, 0, text, authenticate: true);
        Console.WriteLine(response.Text.TrimEnd('\0', '\r', '\n'));
    }

    /// <summary>mrulist: a nonce, then the list (as ntpd 4.2.8's ntpq prints it, most recent first).</summary>
    private static void MruList(Session session)
    {
        ControlClient client = session.Client!;
        string nonce = client.Query(ControlOpcode.RequestNonce).Text.Trim('\0', ' ', '\r', '\n');
        if (!nonce.StartsWith("nonce=", StringComparison.Ordinal))
        {
            throw new ControlException("***Nonce expected");
        }

        Console.Error.WriteLine("Ctrl-C will stop MRU retrieval and display partial results.");
        ControlResponse response = client.Query(ControlOpcode.ReadMru, 0, nonce + ", frags=32");
        var values = response.Values;
        ControlFormat.TryTimestamp(values.GetValueOrDefault("now"), out NtpTimestamp now);
        var rows = new List<Dictionary<string, string>>();
        for (int i = 0; values.ContainsKey($"addr.{i}"); i++)
        {
            rows.Add(new[] { "addr", "last", "first", "ct", "mv", "rs" }.ToDictionary(n => n, n => values.GetValueOrDefault($"{n}.{i}", ""), StringComparer.Ordinal));
        }

        Console.Error.WriteLine($"Retrieved {rows.Count} unique MRU entries and 0 updated.");
        if (session.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(rows, JsonOptions));
            return;
        }

        Console.WriteLine("lstint avgint rstr r m v  count rport remote address");
        Console.WriteLine(new string('=', 78));
        foreach (Dictionary<string, string> row in rows)
        {
            Console.WriteLine(ControlFormat.MruLine(row, now, session.Numeric ? null : ControlResponse.NameOf));
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };
}
