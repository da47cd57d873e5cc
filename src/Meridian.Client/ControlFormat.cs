using System.Globalization;
using System.Net;
using System.Text;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>
/// ntpq's output, byte for byte as ntpd 4.2.8's ntpq prints it: the peers billboard, the associations table, and
/// readvar's status line and name=value lines wrapped at 72 columns, raw or cooked.
/// </summary>
public static class ControlFormat
{
    public const string PeersHeader = "     remote           refid      st t when poll reach   delay   offset  jitter";

    public static readonly string PeersRule = new('=', 78);

    public const string AssociationsHeader = "ind assid status  conf reach auth condition  last_event cnt";

    public static readonly string AssociationsRule = new('=', 59);

    /// <summary>
    /// One billboard row: <c>%c%-15.15s %-15.15s %2d %c %4s %4s  %3o  %7.3f %8.3f %7.3f</c>. <paramref name="tally"/>
    /// comes from the peer status word; <paramref name="now"/> is this host's clock, for the "when" column.
    /// </summary>
    public static string PeerLine(char tally, IReadOnlyDictionary<string, string> v, NtpTimestamp now, Func<IPAddress, string>? hostName = null)
    {
        string srcadr = v.GetValueOrDefault("srcadr", "");
        string remote = srcadr;
        if (IPAddress.TryParse(srcadr, out IPAddress? address))
        {
            remote = hostName is null ? srcadr : RefclockName(address) ?? hostName(address);
        }

        int stratum = Int(v, "stratum", 16);
        string refidText = v.GetValueOrDefault("refid", "");
        string refid = IPAddress.TryParse(refidText, out IPAddress? refAddress) && refidText.Contains('.', StringComparison.Ordinal) && stratum > 1
            ? (hostName is null ? refidText : RefclockName(refAddress) ?? hostName(refAddress))
            : "." + refidText + ".";
        char type = Type(address, Int(v, "hmode", 3), IPAddress.TryParse(v.GetValueOrDefault("dstadr"), out IPAddress? local) ? local : null, Int(v, "ntscookies", -1));
        int hpoll = Int(v, "hpoll", 6);
        int ppoll = Int(v, "ppoll", 0);
        int poll = ppoll > 0 ? Math.Min(ppoll, hpoll) : hpoll;
        string when = "-";
        if (TryTimestamp(v.GetValueOrDefault("rec"), out NtpTimestamp rec) && rec.Value != 0)
        {
            when = Interval((long)Math.Round((now - rec).ToSeconds()));
        }

        int reach = (int)UInt(v, "reach");
        return string.Create(CultureInfo.InvariantCulture,
            $"{tally}{Fit(remote, 15),-15} {Fit(refid, 15),-15} {stratum,2} {type} {Fit(when, 4),4} {Fit(Interval(1L << Math.Clamp(poll, 0, 30)), 4),4}  {Convert.ToString(reach, 8),3}  {Fit(Number(v, "delay"), 7),7} {Fit(Number(v, "offset"), 8),8} {Fit(Number(v, "jitter"), 7),7}");
    }

    /// <summary>The tally character of a peer status word's selection field.</summary>
    public static char Tally(ushort status) => " x.-+#*o"[(status >> 8) & 7];

    /// <summary>One row of the associations table.</summary>
    public static string AssociationLine(int index, ushort id, ushort status)
    {
        int bits = status >> 11;
        string conf = (bits & 0x10) != 0 ? "yes" : "no";
        string reach = (bits & 0x02) != 0 ? "yes" : "no";
        string auth = (bits & 0x08) == 0 ? "none" : (bits & 0x04) != 0 ? "ok " : "bad";
        string condition = ControlStatus.ConditionNames[(status >> 8) & 7];
        int events = (status >> 4) & 0xF;
        string last = (status & 0xF) == 0 ? "" : ControlStatus.PeerEventNames[status & 0xF];
        return string.Create(CultureInfo.InvariantCulture, $"{index,3} {id,5}  {status:x4}   {conf,3}  {reach,4}  {auth,4} {condition,9} {last,11} {events,2}");
    }

    /// <summary>readvar's first line: <c>associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,</c>.</summary>
    /// <summary>
    /// ntpq's labelled displays (sysstats, iostats, kerninfo, ...): each label padded to 22 columns, two spaces, the
    /// value; variables the daemon did not return are left out.
    /// </summary>
    public static string Labelled(IEnumerable<(string Name, string Label)> rows, IReadOnlyDictionary<string, string> values)
    {
        var text = new StringBuilder();
        foreach ((string name, string label) in rows)
        {
            if (values.TryGetValue(name, out string? value))
            {
                text.Append(label.PadRight(22)).Append("  ").Append(value).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// NTPsec's ntpq's labelled displays (<c>ntsinfo</c>): <c>"%13s %13s"</c> of label and value, the labels already
    /// padded to 27 columns; a variable the daemon did not return is left out.
    /// </summary>
    public static string NtpsecLabelled(IEnumerable<(string Name, string Label)> rows, IReadOnlyDictionary<string, string> values)
    {
        var text = new StringBuilder();
        foreach ((string name, string label) in rows)
        {
            if (values.TryGetValue(name, out string? value))
            {
                text.Append(label.PadLeft(13)).Append(' ').Append(value.PadLeft(13)).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The status line of a clock variable list: <c>associd=1 status=0000 clk_unspec, last_clk_unspec,</c>.</summary>
    public static string ClockStatusLine(ushort associationId, ushort status, bool raw)
    {
        if (raw)
        {
            return string.Create(CultureInfo.InvariantCulture, $"associd={associationId} status=0x{status:x4},");
        }

        static string Name(int code) => ControlStatus.ClockNames.ElementAtOrDefault(code) ?? "clk";
        return string.Create(CultureInfo.InvariantCulture, $"associd={associationId} status={status:x4} {Name(status >> 8)}, last_{Name(status & 0xFF)},");
    }

    public static string StatusLine(ushort associationId, ushort status, bool raw)
    {
        if (raw)
        {
            return string.Create(CultureInfo.InvariantCulture, $"associd={associationId} status=0x{status:x4},");
        }

        int events = (status >> 4) & 0xF;
        string count = events == 1 ? "1 event" : $"{events} events";
        if (associationId == 0)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"associd=0 status={status:x4} {ControlStatus.LeapNames[status >> 14]}, {ControlStatus.SourceNames.ElementAtOrDefault((status >> 8) & 0x3F) ?? "sync_unspec"}, {count}, {ControlStatus.SystemEventNames[status & 0xF]},");
        }

        int bits = status >> 11;
        var flags = new List<string>();
        if ((bits & 0x10) != 0)
        {
            flags.Add("conf");
        }

        if ((bits & 0x08) != 0)
        {
            flags.Add((bits & 0x04) != 0 ? "authenb, auth" : "authenb");
        }

        if ((bits & 0x02) != 0)
        {
            flags.Add("reach");
        }

        if ((bits & 0x01) != 0)
        {
            flags.Add("bcast");
        }

        flags.Add(ControlStatus.SelectionNames[(status >> 8) & 7]);
        flags.Add(count);
        flags.Add(ControlStatus.PeerEventNames[status & 0xF]);
        return string.Create(CultureInfo.InvariantCulture, $"associd={associationId} status={status:x4} {string.Join(", ", flags)},");
    }

    /// <summary>name=value pairs, ", " between them, a new line before one would pass 72 columns (ntpq's output()).</summary>
    public static string Variables(IEnumerable<KeyValuePair<string, string?>> variables, bool raw)
    {
        var text = new StringBuilder();
        int line = 0;
        bool any = false;
        foreach ((string name, string? value) in variables)
        {
            string item = value is null ? name : $"{name}={(raw ? value : Cook(name, value))}";
            if (any)
            {
                if (line + item.Length + 2 > 72)
                {
                    text.Append(",\n");
                    line = 0;
                }
                else
                {
                    text.Append(", ");
                    line += 2;
                }
            }

            text.Append(item);
            line += item.Length;
            any = true;
        }

        return any ? text.Append('\n').ToString() : "";
    }

    /// <summary>ntpq's cooked form of a value: leap in binary, reach in octal, timestamps with their date, flash decoded.</summary>
    public static string Cook(string name, string value)
    {
        switch (name)
        {
            case "leap" when int.TryParse(value, out int leap):
                return Convert.ToString(leap & 3, 2).PadLeft(2, '0');
            case "reach" when TryUInt(value, out ulong reach):
                return Convert.ToString((long)reach, 8);
            case "reftime" or "rec" or "xmt" or "clock" or "org" or "dst" when TryTimestamp(value, out NtpTimestamp t):
                return ClassicFormat.PrettyDate(t);
            case "flash" when TryUInt(value, out ulong flash):
                return flash == 0 ? "00 ok" : Convert.ToString((long)flash, 16).PadLeft(2, '0') + " " + FlashNames(flash);
            case "filtdelay" or "filtoffset" or "filtdisp":
                return " " + string.Concat(value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(x =>
                    double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d.ToString("0.00", CultureInfo.InvariantCulture).PadLeft(8) : x.PadLeft(8)));
            default:
                return value;
        }
    }

    /// <summary>One mrulist row: <c>%6d %6d %4hx %c %d %d %6d %5u %s</c> (lstint, avgint, rstr, r, m, v, count, rport, address).</summary>
    public static string MruLine(IReadOnlyDictionary<string, string> entry, NtpTimestamp now, Func<IPAddress, string>? hostName = null)
    {
        TryTimestamp(entry.GetValueOrDefault("last"), out NtpTimestamp last);
        TryTimestamp(entry.GetValueOrDefault("first"), out NtpTimestamp first);
        long count = long.TryParse(entry.GetValueOrDefault("ct"), NumberStyles.None, CultureInfo.InvariantCulture, out long c) ? c : 1;
        long lastInterval = (long)Math.Max(0, (now - last).ToSeconds());
        long averageInterval = count > 0 ? (long)Math.Max(0, (last - first).ToSeconds()) / count : 0;
        TryUInt(entry.GetValueOrDefault("rs"), out ulong restrictions);
        TryUInt(entry.GetValueOrDefault("mv"), out ulong modeVersion);
        char r = (restrictions & 0x0400) != 0 ? 'K' : (restrictions & 0x0020) != 0 ? 'L' : '.';
        string address = entry.GetValueOrDefault("addr", "");
        int colon = address.LastIndexOf(':');
        string host = colon > 0 ? address[..colon].Trim('[', ']') : address;
        string port = colon > 0 ? address[(colon + 1)..] : "0";
        if (hostName is not null && IPAddress.TryParse(host, out IPAddress? ip))
        {
            host = hostName(ip);
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"{lastInterval,6} {averageInterval,6} {restrictions,4:x} {r} {modeVersion & 7} {(modeVersion >> 3) & 7} {count,6} {port,5} {host}");
    }

    /// <summary>ntpq's prettyinterval: seconds up to 2048, then minutes, hours, days.</summary>
    public static string Interval(long seconds)
    {
        if (seconds <= 0)
        {
            return "-";
        }

        if (seconds <= 2048)
        {
            return seconds.ToString(CultureInfo.InvariantCulture);
        }

        long minutes = (seconds + 29) / 60;
        if (minutes <= 300)
        {
            return minutes.ToString(CultureInfo.InvariantCulture) + "m";
        }

        long hours = (minutes + 29) / 60;
        if (hours <= 96)
        {
            return hours.ToString(CultureInfo.InvariantCulture) + "h";
        }

        return ((hours + 11) / 24).ToString(CultureInfo.InvariantCulture) + "d";
    }

    /// <summary>Reads <c>0xXXXXXXXX.XXXXXXXX</c> (ntpd's timestamps, with or without 0x).</summary>
    public static bool TryTimestamp(string? text, out NtpTimestamp timestamp)
    {
        timestamp = default;
        if (text is null)
        {
            return false;
        }

        string t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        int dot = t.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0 || !uint.TryParse(t.AsSpan(0, dot), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint seconds)
            || !uint.TryParse(t.AsSpan(dot + 1, Math.Min(8, t.Length - dot - 1)), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint fraction))
        {
            return false;
        }

        timestamp = new NtpTimestamp(seconds, fraction);
        return true;
    }

    /// <summary>The clock name ntpq 4.2.8 shows for a reference clock address (LOCAL(0), GPS_NMEA(0), ...).</summary>
    public static string? RefclockName(IPAddress address)
    {
        byte[] b = address.GetAddressBytes();
        if (b.Length != 4 || b[0] != 127 || b[1] != 127)
        {
            return null;
        }

        string name = b[2] switch { 1 => "LOCAL", 20 => "GPS_NMEA", 22 => "PPS", 28 => "SHM", 46 => "GPSD_JSON", _ => "REFCLK" };
        return name == "REFCLK" ? $"REFCLK({b[2]},{b[3]})" : $"{name}({b[3]})";
    }

    /// <summary>
    /// The <c>t</c> column: <c>l</c> a reference clock, <c>u</c> a server, <c>s</c>/<c>S</c> a symmetric active/passive
    /// peer, <c>B</c>/<c>M</c> our broadcast to a broadcast address/multicast group, <c>b</c>/<c>m</c> a broadcast
    /// client of a server heard by broadcast/multicast (seed 000's ntpq shows <c>m</c>; ntpd 4.2.8's shows <c>b</c> for
    /// both), <c>a</c> a manycast client's request to its group. An NTS server association shows the cookies it holds
    /// instead of <c>u</c> (NTPsec's ntpq: <c>ntscookies</c> when it is not -1, as the digit <c>'0' + count</c>).
    /// </summary>
    private static char Type(IPAddress? address, int hmode, IPAddress? local, int ntsCookies)
    {
        if (address is null)
        {
            return '-';
        }

        byte[] b = address.GetAddressBytes();
        if (b.Length == 4 && b[0] == 127 && b[1] == 127)
        {
            return 'l';
        }

        return hmode switch
        {
            1 => 's',
            2 => 'S',
            5 => IsMulticast(address) ? 'M' : 'B',
            6 => local is not null && IsMulticast(local) ? 'm' : 'b',
            _ when IsMulticast(address) => 'a',
            _ when ntsCookies >= 0 => (char)('0' + Math.Min(ntsCookies, 'z' - '0')),
            _ => 'u',
        };
    }

    private static bool IsMulticast(IPAddress address) =>
        address.IsIPv6Multicast || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes()[0] is >= 224 and < 240);

    private static string Number(IReadOnlyDictionary<string, string> v, string name) =>
        double.TryParse(v.GetValueOrDefault(name), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d.ToString("0.000", CultureInfo.InvariantCulture) : "-";

    private static string Fit(string text, int width) => text.Length > width ? text[..width] : text;

    private static int Int(IReadOnlyDictionary<string, string> v, string name, int fallback) =>
        int.TryParse(v.GetValueOrDefault(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : fallback;

    private static ulong UInt(IReadOnlyDictionary<string, string> v, string name) => TryUInt(v.GetValueOrDefault(name), out ulong value) ? value : 0;

    private static bool TryUInt(string? text, out ulong value)
    {
        value = 0;
        return text is not null && (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
            : ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value));
    }

    private static string FlashNames(ulong flash)
    {
        string[] names = ["pkt_dup", "pkt_bogus", "pkt_unsync", "pkt_denied", "pkt_auth", "pkt_stratum", "pkt_header", "pkt_autokey", "pkt_crypto", "peer_stratum", "peer_dist", "peer_loop", "peer_unreach"];
        return string.Join(' ', names.Where((_, i) => (flash & (1UL << i)) != 0));
    }
}
