using System.Globalization;
using System.Net;
using System.Text;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>
/// ntpdc's output as ntpd 4.2.8's ntpdc prints it, from mode 6 variables: every time in seconds (ntpq prints
/// milliseconds), the peers table with its mode characters, showpeer's long form, and the labelled system displays.
/// Values arrive as ntpq's variables (milliseconds, ppm) and are converted here.
/// </summary>
public static class NtpdcFormat
{
    public const string PeersHeader = "     remote           local      st poll reach  delay   offset    disp";

    public static readonly string PeersRule = new('=', 71);

    /// <summary>ntpdc's names of the association modes (modetoa).</summary>
    private static readonly string[] Modes = ["unspec", "sym_active", "sym_passive", "client", "server", "broadcast", "control", "private", "bclient"];

    public static string ModeName(int mode) => mode >= 0 && mode < Modes.Length ? Modes[mode] : "mode#" + mode.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The character before a peers row: <c>*</c> the system peer, else the mode: <c>+</c> symmetric active,
    /// <c>-</c> symmetric passive, <c>=</c> client, <c>^</c> broadcast, <c>~</c> broadcast client.
    /// </summary>
    public static char ModeCharacter(bool systemPeer, int hostMode) => systemPeer ? '*' : hostMode switch
    {
        1 => '+',
        2 => '-',
        3 => '=',
        5 => '^',
        6 => '~',
        _ => ' ',
    };

    /// <summary>One peers row: <c>%c%-15.15s %-15.15s %2d %4d  %3o %7.7s %9.9s %7.7s</c>, times in seconds.</summary>
    public static string PeerLine(bool systemPeer, IReadOnlyDictionary<string, string> v, Func<IPAddress, string>? hostName = null)
    {
        string remote = Remote(v, hostName);
        int hmode = Int(v, "hmode", 3);
        int reach = (int)Hex(v, "reach");
        return string.Create(CultureInfo.InvariantCulture,
            $"{ModeCharacter(systemPeer, hmode)}{Fit(remote, 15),-15} {Fit(v.GetValueOrDefault("dstadr", "0.0.0.0"), 15),-15} {Int(v, "stratum", 16),2} {1 << Math.Clamp(Int(v, "hpoll", 6), 0, 17),4}  {Convert.ToString(reach, 8),3} {Fit(Seconds(v, "delay", 5), 7),7} {Fit(Seconds(v, "offset", 6), 9),9} {Fit(Seconds(v, "dispersion", 5), 7),7}");
    }

    /// <summary>One listpeers row: the mode and the address.</summary>
    public static string ListPeerLine(IReadOnlyDictionary<string, string> v, Func<IPAddress, string>? hostName = null) =>
        $"{ModeName(Int(v, "hmode", 3)),-9} {Remote(v, hostName)}";

    /// <summary>showpeer: everything ntpdc knows about one association.</summary>
    public static string ShowPeer(int associationId, bool systemPeer, IReadOnlyDictionary<string, string> v, Func<IPAddress, string>? hostName = null)
    {
        var text = new StringBuilder();
        int stratum = Int(v, "stratum", 16);
        int leap = Int(v, "leap", 3);
        text.Append(CultureInfo.InvariantCulture, $"remote {Remote(v, hostName)}, local {v.GetValueOrDefault("dstadr", "0.0.0.0")}\n");
        text.Append(CultureInfo.InvariantCulture, $"hmode {ModeName(Int(v, "hmode", 3))}, pmode {ModeName(Int(v, "pmode", 0))}, stratum {stratum}, precision {Int(v, "precision", 0)}\n");
        text.Append(CultureInfo.InvariantCulture, $"leap {leap >> 1 & 1}{leap & 1}, refid [{v.GetValueOrDefault("refid", "")}], rootdistance {Seconds(v, "rootdelay", 5)}, rootdispersion {Seconds(v, "rootdisp", 5)}\n");
        text.Append(CultureInfo.InvariantCulture, $"ppoll {Int(v, "ppoll", 0)}, hpoll {Int(v, "hpoll", 0)}, keyid {Int(v, "keyid", 0)}, version {Int(v, "version", 4)}, association {associationId}\n");
        text.Append(CultureInfo.InvariantCulture, $"reach {Convert.ToString((int)Hex(v, "reach"), 8).PadLeft(3, '0')}, unreach {Int(v, "unreach", 0)}, flash 0x{Hex(v, "flash"):x4}, boffset 0.00000, ttl/mode 0\n");
        text.Append(CultureInfo.InvariantCulture, $"timer {Int(v, "timer", 0)}s, flags config{(systemPeer ? ", system_peer" : "")}\n");
        foreach ((string name, string label) in new[] { ("reftime", "reference time:      "), ("org", "originate timestamp: "), ("rec", "receive timestamp:   "), ("xmt", "transmit timestamp:  ") })
        {
            ControlFormat.TryTimestamp(v.GetValueOrDefault(name), out NtpTimestamp t);
            text.Append(label).Append(ClassicFormat.PrettyDate(t)).Append('\n');
        }

        Filter(text, "filter delay: ", v.GetValueOrDefault("filtdelay", ""), 5);
        Filter(text, "filter offset:", v.GetValueOrDefault("filtoffset", ""), 6);
        text.Append("filter order: ");
        for (int i = 0; i < 8; i++)
        {
            text.Append(' ').Append(i.ToString(CultureInfo.InvariantCulture).PadRight(8));
            if (i == 3)
            {
                text.Append("\n              ");
            }
        }

        text.Append('\n');
        text.Append(CultureInfo.InvariantCulture, $"offset {Seconds(v, "offset", 6)}, delay {Seconds(v, "delay", 5)}, error bound {Seconds(v, "dispersion", 5)}, filter error {Seconds(v, "jitter", 5)}\n");
        return text.ToString();
    }

    /// <summary>sysinfo: the system variables, and the peer's address and mode when there is a system peer.</summary>
    public static string SystemInfo(IReadOnlyDictionary<string, string> v, string peer, int peerMode)
    {
        int leap = Int(v, "leap", 3);
        ControlFormat.TryTimestamp(v.GetValueOrDefault("reftime"), out NtpTimestamp reftime);
        string flags = v.GetValueOrDefault("sys_flags", "").Trim('"');
        var text = new StringBuilder();
        text.Append("system peer:          ").Append(peer).Append('\n');
        text.Append("system peer mode:     ").Append(ModeName(peerMode)).Append('\n');
        text.Append(CultureInfo.InvariantCulture, $"leap indicator:       {leap >> 1 & 1}{leap & 1}\n");
        text.Append("stratum:              ").Append(Int(v, "stratum", 16).ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("precision:            ").Append(Int(v, "precision", 0).ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append("root distance:        ").Append(Seconds(v, "rootdelay", 5)).Append(" s\n");
        text.Append("root dispersion:      ").Append(Seconds(v, "rootdisp", 5)).Append(" s\n");
        text.Append("reference ID:         [").Append(v.GetValueOrDefault("refid", "")).Append("]\n");
        text.Append("reference time:       ").Append(ClassicFormat.PrettyDate(reftime)).Append('\n');
        text.Append("system flags:         ").Append(string.Concat(flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f + " "))).Append('\n');
        text.Append("jitter:               ").Append(Seconds(v, "sys_jitter", 6)).Append(" s\n");
        text.Append("stability:            ").Append(Plain(v, "clk_wander", 3)).Append(" ppm\n");
        text.Append("broadcastdelay:       ").Append(Seconds(v, "bcastdelay", 6)).Append(" s\n");
        text.Append("authdelay:            ").Append(Seconds(v, "authdelay", 6)).Append(" s\n");
        return text.ToString();
    }

    /// <summary>sysstats: ntpdc's packet counters (its own labels, 24 columns).</summary>
    public static string SystemStatistics(IReadOnlyDictionary<string, string> v) => Lines(24,
        [
            ("time since restart:", v.GetValueOrDefault("ss_uptime", "0")),
            ("time since reset:", v.GetValueOrDefault("ss_reset", "0")),
            ("packets received:", v.GetValueOrDefault("ss_received", "0")),
            ("packets processed:", v.GetValueOrDefault("ss_processed", "0")),
            ("current version:", v.GetValueOrDefault("ss_thisver", "0")),
            ("previous version:", v.GetValueOrDefault("ss_oldver", "0")),
            ("declined:", v.GetValueOrDefault("ss_declined", "0")),
            ("access denied:", v.GetValueOrDefault("ss_restricted", "0")),
            ("bad length or format:", v.GetValueOrDefault("ss_badformat", "0")),
            ("bad authentication:", v.GetValueOrDefault("ss_badauth", "0")),
            ("rate exceeded:", v.GetValueOrDefault("ss_limited", "0")),
        ]);

    /// <summary>loopinfo: the clock discipline's offset and frequency, its time constant and the time since the last update.</summary>
    public static string LoopInfo(IReadOnlyDictionary<string, string> v) => Lines(22,
    [
        ("offset:", Seconds(v, "offset", 6) + " s"),
        ("frequency:", Plain(v, "frequency", 3) + " ppm"),
        ("time constant:", Int(v, "tc", 0).ToString(CultureInfo.InvariantCulture)),
        ("watchdog timer:", Int(v, "watchdog", 0).ToString(CultureInfo.InvariantCulture) + " s"),
    ]);

    /// <summary>kerninfo: the kernel's discipline state in seconds and ppm.</summary>
    public static string KernelInfo(IReadOnlyDictionary<string, string> v)
    {
        // C's %g: six significant digits, a lower-case exponent.
        string G(string name) => (Number(v, name) / 1e3).ToString("G6", CultureInfo.InvariantCulture).Replace('E', 'e');
        return Lines(22,
        [
            ("pll offset:", G("koffset") + " s"),
            ("pll frequency:", Plain(v, "kfreq", 3) + " ppm"),
            ("maximum error:", G("kmaxerr") + " s"),
            ("estimated error:", G("kesterr") + " s"),
            ("status:", v.GetValueOrDefault("kstflags", "").Trim('"')),
            ("pll time constant:", v.GetValueOrDefault("ktimeconst", "0")),
            ("precision:", G("kprecis") + " s"),
            ("frequency tolerance:", Plain(v, "kfreqtol", 0) + " ppm"),
        ]);
    }

    /// <summary>iostats: the socket counters, with ntpdc's labels.</summary>
    public static string IoStatistics(IReadOnlyDictionary<string, string> v) => Lines(22,
    [
        ("time since reset:", v.GetValueOrDefault("iostats_reset", "0")),
        ("receive buffers:", v.GetValueOrDefault("total_rbuf", "0")),
        ("free receive buffers:", v.GetValueOrDefault("free_rbuf", "0")),
        ("used receive buffers:", v.GetValueOrDefault("used_rbuf", "0")),
        ("low water refills:", v.GetValueOrDefault("rbuf_lowater", "0")),
        ("dropped packets:", v.GetValueOrDefault("io_dropped", "0")),
        ("ignored packets:", v.GetValueOrDefault("io_ignored", "0")),
        ("received packets:", v.GetValueOrDefault("io_received", "0")),
        ("packets sent:", v.GetValueOrDefault("io_sent", "0")),
        ("packets not sent:", v.GetValueOrDefault("io_sendfailed", "0")),
        ("interrupts handled:", v.GetValueOrDefault("io_wakeups", "0")),
        ("received by int:", v.GetValueOrDefault("io_goodwakeups", "0")),
    ]);

    /// <summary>
    /// addserver/addpeer address [keyid] [version] [minpoll N] [maxpoll N] [prefer] [iburst] [burst]: as an ntp.conf
    /// line (the first bare number is the key ID, the second the version, as in ntpdc).
    /// </summary>
    public static string AssociationLine(string kind, string[] args)
    {
        if (args.Length == 0)
        {
            return kind;
        }

        var line = new List<string> { kind, args[0] };
        int bare = 0;
        for (int i = 1; i < args.Length; i++)
        {
            string word = args[i];
            if (word is "minpoll" or "maxpoll" && i + 1 < args.Length)
            {
                line.Add(word);
                line.Add(args[++i]);
            }
            else if (uint.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out uint number))
            {
                if (bare++ == 0)
                {
                    if (number != 0)
                    {
                        line.Add("key " + word);
                    }
                }
                else
                {
                    line.Add("version " + word);
                }
            }
            else
            {
                line.Add(word);
            }
        }

        return string.Join(' ', line);
    }

    private static string Lines(int width, (string Label, string Value)[] rows) =>
        string.Concat(rows.Select(r => r.Label.PadRight(width) + r.Value + "\n"));

    private static void Filter(StringBuilder text, string label, string values, int decimals)
    {
        string[] stages = values.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        text.Append(label);
        for (int i = 0; i < 8; i++)
        {
            double ms = i < stages.Length && double.TryParse(stages[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : 0;
            text.Append(' ').Append(Fit(ClassicFormat.Seconds(ms / 1e3, decimals), 8).PadRight(8));
            if (i == 3)
            {
                text.Append("\n              ");
            }
        }

        text.Append('\n');
    }

    private static string Remote(IReadOnlyDictionary<string, string> v, Func<IPAddress, string>? hostName)
    {
        string srcadr = v.GetValueOrDefault("srcadr", "");
        return hostName is not null && IPAddress.TryParse(srcadr, out IPAddress? address) ? ControlFormat.RefclockName(address) ?? hostName(address) : srcadr;
    }

    /// <summary>A millisecond variable in seconds, with ntpdc's decimals (lfptoa/fptoa).</summary>
    private static string Seconds(IReadOnlyDictionary<string, string> v, string name, int decimals) =>
        ClassicFormat.Seconds(Number(v, name) / 1e3, decimals);

    private static string Plain(IReadOnlyDictionary<string, string> v, string name, int decimals) =>
        ClassicFormat.Seconds(Number(v, name), decimals);

    private static double Number(IReadOnlyDictionary<string, string> v, string name) =>
        double.TryParse(v.GetValueOrDefault(name), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : 0;

    private static int Int(IReadOnlyDictionary<string, string> v, string name, int fallback) =>
        int.TryParse(v.GetValueOrDefault(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) ? i : fallback;

    /// <summary>A number written as 0x.. (reach, flash) or in decimal.</summary>
    private static long Hex(IReadOnlyDictionary<string, string> v, string name)
    {
        string text = v.GetValueOrDefault(name, "0");
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return long.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long h) ? h : 0;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? n : 0;
    }

    private static string Fit(string text, int width) => text.Length > width ? text[..width] : text;
}
