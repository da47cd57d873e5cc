using System.Net;

namespace Meridian.Config;

/// <summary>How an association is asked for in ntp.conf.</summary>
public enum AssociationKind
{
    Server,
    Pool,
    Peer,
}

/// <summary>One <c>server</c>, <c>pool</c> or <c>peer</c> line with its options.</summary>
public sealed record AssociationConfig(AssociationKind Kind, string Address, int Line)
{
    public bool Iburst { get; init; }

    public bool Burst { get; init; }

    public bool Prefer { get; init; }

    public bool NoSelect { get; init; }

    public bool True { get; init; }

    public int MinPoll { get; init; } = 6;

    public int MaxPoll { get; init; } = 10;

    public int Version { get; init; } = 4;

    public uint? Key { get; init; }

    /// <summary><c>nts</c>: authenticated with Network Time Security; the address is the NTS-KE server's (RFC 8915).</summary>
    public bool Nts { get; init; }

    /// <summary>
    /// <c>noval</c> (NTPsec, with <c>nts</c>): the NTS-KE server's certificate is not validated, any certificate for
    /// any name is accepted. Insecure: anyone on the path can pose as the server.
    /// </summary>
    public bool NoVal { get; init; }

    /// <summary>
    /// The NTS-KE port, from <c>server HOST:PORT nts</c> (NTPsec): the host is the NTS-KE server, which names the NTP
    /// server in its response (RFC 8915 §4.1.7) or leaves it the same host. Null: 4460.
    /// </summary>
    public int? NtsKePort { get; init; }

    /// <summary><c>ca LOCATION</c> on an <c>nts</c> server line (NTPsec): this server's CAs, instead of <c>nts ca</c> or the system's.</summary>
    public string? NtsCa { get; init; }

    /// <summary><c>aead NAME</c> on an <c>nts</c> server line (NTPsec): the AEAD offered first to this server, over <c>nts aead</c>.</summary>
    public ushort? NtsAead { get; init; }

    /// <summary><c>mode N</c> of a reference clock: its driver's mode bits (NMEA: sentences and speed).</summary>
    public int Mode { get; init; }

    /// <summary>The reference clock this address names (<c>127.127.t.u</c>), if any.</summary>
    public RefclockAddress? Refclock => RefclockAddress.TryParse(Address, out RefclockAddress clock) ? clock : null;
}

/// <summary>A reference clock pseudo-address <c>127.127.t.u</c>: driver type t, unit u.</summary>
public readonly record struct RefclockAddress(int Type, int Unit)
{
    public static bool TryParse(string text, out RefclockAddress address)
    {
        address = default;
        if (!IPAddress.TryParse(text, out IPAddress? ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return false;
        }

        byte[] b = ip.GetAddressBytes();
        if (b[0] != 127 || b[1] != 127)
        {
            return false;
        }

        address = new RefclockAddress(b[2], b[3]);
        return true;
    }

    public override string ToString() => $"127.127.{Type}.{Unit}";
}

/// <summary>The <c>fudge</c> settings of one reference clock.</summary>
public sealed record FudgeConfig(RefclockAddress Clock, int Line)
{
    public int? Stratum { get; init; }

    public string? RefId { get; init; }

    public double? Time1 { get; init; }

    public double? Time2 { get; init; }

    public IReadOnlyDictionary<int, bool> Flags { get; init; } = new Dictionary<int, bool>();

    /// <summary>The timecode device: ntpd 4.2.8's <c>device ... timedata PATH</c>, NTPsec's <c>refclock ... path</c>.</summary>
    public string? Path { get; init; }

    /// <summary>The PPS device: <c>device ... ppsdata PATH</c>, NTPsec's <c>ppspath</c>.</summary>
    public string? PpsPath { get; init; }

    /// <summary>NTPsec's <c>baud</c>.</summary>
    public int? Baud { get; init; }
}

/// <summary>The typed result of reading ntp.conf, with every problem found on the way.</summary>
public sealed class NtpConfiguration
{
    public List<AssociationConfig> Associations { get; } = new();

    public Dictionary<RefclockAddress, FudgeConfig> Fudges { get; } = new();

    /// <summary>System flags from <c>enable</c>/<c>disable</c> (auth, bclient, calibrate, kernel, monitor, ntp, stats, ...).</summary>
    public SystemFlagOptions SystemFlags { get; set; } = new();

    /// <summary>The system flags an <c>enable</c> or <c>disable</c> line named (what a run-time change touches).</summary>
    public HashSet<string> SystemFlagsWritten { get; } = new(StringComparer.Ordinal);

    public string? DriftFile { get; set; }

    public string? LogFile { get; set; }

    /// <summary><c>pidfile</c>: where the process ID is written (<c>-p</c> overrides it).</summary>
    public string? PidFile { get; set; }

    public List<RestrictEntry> Restrictions { get; } = new();

    /// <summary><c>broadcast</c> and <c>manycastclient</c> lines.</summary>
    public List<BroadcastConfig> Broadcasts { get; } = new();

    /// <summary><c>broadcastclient</c>: listen for broadcast servers.</summary>
    public bool BroadcastClient { get; set; }

    /// <summary>Without <c>novolley</c>: a broadcast client measures the delay to a new server with a volley first.</summary>
    public bool BroadcastVolley { get; set; } = true;

    /// <summary><c>multicastclient</c> groups to join.</summary>
    public List<IPAddress> MulticastClientGroups { get; } = new();

    /// <summary><c>manycastserver</c> groups to answer on.</summary>
    public List<IPAddress> ManycastServerGroups { get; } = new();

    /// <summary><c>broadcastdelay</c>, seconds (ntpd's default 0.004).</summary>
    public double BroadcastDelay { get; set; } = 0.004;

    /// <summary><c>unpeer</c> lines: addresses or association IDs to remove.</summary>
    public List<string> Unpeer { get; } = new();

    /// <summary>The <c>keys</c> file, read when it exists.</summary>
    public string? KeysFile { get; set; }

    public KeyRing Keys { get; set; } = KeyRing.Empty;

    public HashSet<int> TrustedKeys { get; } = new();

    public int? RequestKey { get; set; }

    public int? ControlKey { get; set; }

    public string? LeapFile { get; set; }

    /// <summary>NTPsec's <c>nts</c> lines.</summary>
    public NtsConfig Nts { get; set; } = new();

    /// <summary><c>leapsmearinterval</c>, seconds: served time is smeared over this long before a leap (0 or null: not smeared).</summary>
    public double? LeapSmearInterval { get; set; }

    public string? StatsDirectory { get; set; }

    /// <summary><c>statistics</c>: which files to write (loopstats, peerstats, ...).</summary>
    public HashSet<string> Statistics { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, FileGenConfig> FileGens { get; } = new(StringComparer.Ordinal);

    /// <summary><c>logconfig</c> items as written (=syncall +clockall ...).</summary>
    public List<string> LogConfig { get; } = new();

    /// <summary><c>discard</c>: average and minimum (log2 s / s) and monitor.</summary>
    public DiscardOptions Discard { get; set; } = new();

    /// <summary><c>mru</c> limits.</summary>
    public MruOptions Mru { get; set; } = new();

    /// <summary><c>setvar name = value [default]</c>: extra system variables for mode 6.</summary>
    public Dictionary<string, string> SetVar { get; } = new(StringComparer.Ordinal);

    /// <summary>The <c>setvar</c> variables marked <c>default</c>: <c>ntpq rv</c> lists them without being asked.</summary>
    public HashSet<string> SetVarDefault { get; } = new(StringComparer.Ordinal);

    /// <summary><c>interface</c> and <c>nic</c> rules, in order: the last one matching an address decides.</summary>
    public List<InterfaceRule> InterfaceRules { get; } = new();

    /// <summary><c>dscp N</c>: the DSCP of the packets we send (ntpd's default 46, Expedited Forwarding).</summary>
    public int Dscp { get; set; } = 46;

    /// <summary><c>precision N</c>: the clock precision to advertise (log2 s) instead of the one measured at start.</summary>
    public int? Precision { get; set; }

    /// <summary><c>slewalways yes</c>: the clock is only ever slewed.</summary>
    public bool SlewAlways { get; set; }

    /// <summary><c>tos</c>: minclock, maxclock, minsane, orphan, orphanwait, ...</summary>
    public TosOptions Tos { get; set; } = new();

    /// <summary><c>tinker</c>: step, stepout, panic, ...</summary>
    public TinkerOptions Tinker { get; set; } = new();

    public List<ConfigDiagnostic> Diagnostics { get; } = new();

    public bool HasErrors => Diagnostics.Exists(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>The warnings about lines that are read and checked but not in effect in this build.</summary>
    public IEnumerable<ConfigDiagnostic> NotInEffect => Diagnostics.Where(d => d.NotInEffect);

    /// <summary>True when the daemon may adjust the system clock (no <c>disable ntp</c>).</summary>
    public bool ClockControl => SystemFlags.Ntp;
}
