using System.Globalization;
using System.Net;

namespace Meridian.Config;

/// <summary>
/// Reads ntp.conf into <see cref="NtpConfiguration"/>. Never throws on bad input and never drops a line silently:
/// each problem becomes a <see cref="ConfigDiagnostic"/> with file, line and column.
/// </summary>
public sealed partial class ConfigParser
{
    /// <summary>How deep <c>includefile</c> may nest.</summary>
    public const int MaxIncludeDepth = 5;

    /// <summary>
    /// Directives read and checked completely whose feature this build does not have yet, with the reason the
    /// warning gives: each line draws a warning that names it, in <c>--configtest</c> and in the start-up log.
    /// </summary>
    private static readonly Dictionary<string, string> NotInEffectDirectives = new(StringComparer.Ordinal)
    {
        ["ttl"] = "the manycast ring's hop limits double from 1 up to the manycastclient line's ttl in this build",
        ["requestkey"] = "mode 7 is never answered; ntpdc here speaks mode 6 and authenticates with the controlkey",
        ["logconfig"] = "log classes cannot be chosen in this build: every message at info level and above is logged",
        ["phone"] = "modem reference clocks are not supported", ["calldelay"] = "modem reference clocks are not supported",
        ["nonvolatile"] = "the drift file is written every hour while the clock is disciplined, whatever the change",
        ["saveconfigdir"] = "ntpq's saveconfig is not supported",
        ["revoke"] = Autokey, ["automax"] = Autokey, ["keysdir"] = Autokey,
        ["trap"] = "mode 6 traps are not supported",
        ["reset"] = "counters are not reset in this build",
        ["rlimit"] = "resource limits are left to the operating system (and the service manager)",
        ["mdnstries"] = "mDNS registration is not supported",
        ["pollskewlist"] = "the poll skew is fixed (up to 3 % early) in this build",
    };

    private const string KernelPps = "the kernel's PPS discipline (hardpps) is not used in this build: PPS samples go through the daemon's own discipline";
    private const string Autokey = "Autokey (RFC 5906) is not supported";

    private static readonly string[] Directives =
    [
        "server", "pool", "peer", "fudge", "enable", "disable", "interface", "nic", "driftfile", "logfile", "includefile",
        "tos", "tinker", "slewalways", "precision", "keys", "trustedkey", "controlkey", "crypto", "discard", "mru",
        "setvar", "resolver", "refclock", "unpeer", "unconfig", "restrict", "unrestrict", "dscp", "pidfile",
        "leapfile", "leapsmearinterval",
        .. NotInEffectDirectives.Keys,
    ];

    private static readonly string[] AssociationFlags = ["iburst", "burst", "prefer", "noselect", "true", "preempt", "xleave", "autokey", "nts", "noval"];

    /// <summary>Association options that are read and checked but not in effect yet, with the reason.</summary>
    private static readonly Dictionary<string, string> AssociationOptionsNotInEffect = new(StringComparer.Ordinal)
    {
        ["preempt"] = "a preemptable association is not replaced in this build",
        ["xleave"] = "interleaved mode (RFC 9769) is not available in this build yet",
        ["autokey"] = Autokey + "; use symmetric keys (key N)",
        ["ttl"] = "a hop limit applies to broadcast and manycastclient lines only",
        ["mode"] = "mode applies to reference clocks (127.127.t.u) only",
        ["bias"] = "a fixed offset per association is not applied in this build",
        ["maxdelay"] = "samples are not discarded by delay in this build",
        ["ask"] = "NTS-KE is not asked for a particular NTP server (RFC 8915 §4.1.7 in the request); the server's choice is used",
        ["require"] = "NTS-KE is not asked for a particular NTP server (RFC 8915 §4.1.7 in the request); the server's choice is used",
        ["expire"] = "the keys are renewed on a NAK or when the cookies run out, not on a schedule",
        ["cert"] = "NTS-KE runs without a client certificate",
    };

    private static readonly string[] AssociationValues = ["minpoll", "maxpoll", "version", "key", "ttl", "mode", "bias", "maxdelay", "ca", "aead", "ask", "require", "expire", "cert"];

    /// <summary><c>tos</c> options and their ranges (ntpd 4.2.8 and NTPsec); <c>basedate</c> takes a date.</summary>
    private static readonly Dictionary<string, (double Min, double Max)> TosRanges = new(StringComparer.Ordinal)
    {
        ["minclock"] = (1, 100), ["maxclock"] = (1, 100), ["minsane"] = (0, 100), ["orphan"] = (1, 16),
        ["orphanwait"] = (0, 86400), ["mindist"] = (0, 10), ["maxdist"] = (0.001, 16), ["beacon"] = (1, 1 << 20),
        ["ceiling"] = (1, 16), ["floor"] = (0, 16), ["cohort"] = (0, 1), ["bcpollbstep"] = (0, 4), ["maxdisp"] = (0, 16),
        ["basedate"] = (0, 0),
    };

    /// <summary>The <c>tos</c> options in effect; the others are read and warned about.</summary>
    private static readonly HashSet<string> TosInEffect = new(StringComparer.Ordinal) { "minclock", "maxclock", "minsane", "orphan", "orphanwait" };

    /// <summary><c>tinker</c> options (seconds; PPM for <c>freq</c> and <c>dispersion</c>; log2 s for <c>allan</c>).</summary>
    private static readonly Dictionary<string, (double Min, double Max)> TinkerRanges = new(StringComparer.Ordinal)
    {
        ["step"] = (0, 1e9), ["stepout"] = (0, 1e9), ["stepback"] = (0, 1e9), ["stepfwd"] = (0, 1e9),
        ["panic"] = (0, 1e9), ["allan"] = (1, 30), ["dispersion"] = (0, 1000), ["freq"] = (-500, 500),
        ["huffpuff"] = (0, 1e9), ["tick"] = (0, 1),
    };

    private static readonly HashSet<string> TinkerInEffect = new(StringComparer.Ordinal) { "step", "stepout", "panic", "freq" };

    private static readonly string[] SystemFlagNames = ["auth", "bclient", "calibrate", "kernel", "monitor", "ntp", "stats", "mode7", "pps", "peer_clear_digest_early", "unpeer_crypto_early", "unpeer_crypto_nak_early", "unpeer_digest_early"];

    /// <summary>The system flags in effect; the others are read and warned about when a line names them.</summary>
    private static readonly HashSet<string> SystemFlagsInEffect = new(StringComparer.Ordinal) { "auth", "bclient", "kernel", "monitor", "ntp", "stats" };

    private readonly NtpConfiguration _config = new();
    private readonly Stack<string> _includeStack = new();

    private ConfigParser()
    {
    }

    /// <summary>Parses configuration text; <paramref name="fileName"/> names it in diagnostics and anchors relative includes.</summary>
    public static NtpConfiguration Parse(string text, string fileName)
    {
        var parser = new ConfigParser();
        parser.ParseText(text, fileName);
        parser.CheckNts();
        return parser._config;
    }

    /// <summary>Reads and parses a file; a file that cannot be read is an error at line 0.</summary>
    public static NtpConfiguration ParseFile(string path)
    {
        var parser = new ConfigParser();
        try
        {
            parser.ParseText(File.ReadAllText(path), path);
            parser.CheckNts();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            parser._config.Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, path, 0, 0, $"cannot read the configuration: {e.Message}"));
        }

        return parser._config;
    }

    private void ParseText(string text, string fileName)
    {
        _includeStack.Push(Path.GetFullPath(fileName));
        foreach (IReadOnlyList<ConfigToken> line in ConfigLexer.Lines(text))
        {
            var reader = new LineReader(line, fileName, _config.Diagnostics);
            // A NUL byte is never part of ntp.conf: the line is refused whole, so no name or path carries one further.
            if (line.FirstOrDefault(t => t.Text.Contains('\0', StringComparison.Ordinal)) is { Text: not null } bad)
            {
                reader.Error(bad, "the line contains a NUL character");
                continue;
            }

            ParseLine(reader);
        }

        _includeStack.Pop();
    }

    private void ParseLine(LineReader line)
    {
        ConfigToken keyword = line.Next()!.Value;
        string name = keyword.Text.ToLowerInvariant();
        if (NotInEffectDirectives.TryGetValue(name, out string? reason))
        {
            line.NotInEffect(keyword, name, reason);
        }

        switch (name)
        {
            case "server":
                ParseAssociation(line, AssociationKind.Server);
                break;
            case "pool":
                ParseAssociation(line, AssociationKind.Pool);
                break;
            case "peer":
                ParseAssociation(line, AssociationKind.Peer);
                break;
            case "fudge":
                ParseFudge(line);
                break;
            case "enable":
            case "disable":
                ParseSystemFlags(line, name == "enable");
                break;
            case "interface" or "nic":
                ParseInterface(line);
                break;
            case "driftfile":
                _config.DriftFile = line.RequireWord("a file name")?.Text;
                line.WarnRest();
                break;
            case "logfile":
                _config.LogFile = line.RequireWord("a file name")?.Text;
                line.WarnRest();
                break;
            case "pidfile":
                _config.PidFile = line.RequireWord("a file name")?.Text;
                line.WarnRest();
                break;
            case "includefile":
                ParseInclude(line);
                break;
            case "precision":
                // log2 seconds, as ntpd: -20 is about a microsecond.
                if (line.Integer(keyword, -30, 0) is int precision)
                {
                    _config.Precision = precision;
                }

                line.WarnRest();
                break;
            case "slewalways":
                ParseSlewAlways(line);
                break;
            case "tos":
                ParseTos(line);
                break;
            case "tinker":
                ParseTinker(line);
                break;
            case "restrict" or "unrestrict":
                ParseRestrict(line, name == "unrestrict");
                break;
            case "broadcast" or "manycastclient":
                ParseBroadcast(line, name == "manycastclient");
                break;
            case "broadcastclient":
                ParseBroadcastClient(line);
                break;
            case "multicastclient" or "manycastserver":
                ParseGroups(line, name == "multicastclient" ? _config.MulticastClientGroups : _config.ManycastServerGroups, name);
                break;
            case "broadcastdelay":
                if (line.Real(keyword) is double broadcastDelay)
                {
                    _config.BroadcastDelay = broadcastDelay;
                }

                line.WarnRest();
                break;
            case "keys":
                ParseKeys(line);
                break;
            case "trustedkey":
                ParseTrustedKeys(line);
                break;
            case "requestkey" or "controlkey":
                if (line.Integer(keyword, 1, 65535) is int keyId)
                {
                    if (name == "requestkey")
                    {
                        _config.RequestKey = keyId;
                    }
                    else
                    {
                        _config.ControlKey = keyId;
                    }
                }

                line.WarnRest();
                break;
            case "crypto":
                line.Warn(keyword, "crypto (Autokey, RFC 5906) is not supported: its security was broken and ntpd itself no longer recommends it; use symmetric keys (keys, trustedkey, key N); the line is ignored");
                line.SkipRest();
                break;
            case "leapfile" or "statsdir" or "keysdir" or "saveconfigdir":
                if (line.RequireWord("a file name") is ConfigToken path)
                {
                    if (name == "leapfile")
                    {
                        _config.LeapFile = path.Text;
                    }
                    else if (name == "statsdir")
                    {
                        _config.StatsDirectory = path.Text;
                    }
                }

                line.WarnRest();
                break;
            case "statistics":
                ParseStatistics(line);
                break;
            case "filegen":
                ParseFileGen(line);
                break;
            case "logconfig":
                while (line.Next() is ConfigToken item)
                {
                    _config.LogConfig.Add(item.Text);
                }

                break;
            case "discard":
                ParseNumericOptions(line, DiscardRanges, "discard", (option, value) => ApplyDiscard(line, option, value));
                break;
            case "mru":
                ParseNumericOptions(line, MruRanges, "mru", (option, value) => ApplyMru(line, option, value));
                break;
            case "setvar":
                ParseSetVar(line);
                break;
            case "resolver":
                // ntpd 3's external resolver program (seed 004): names are resolved inside the daemon now.
                line.NotInEffect(keyword, "resolver", "names are resolved inside the daemon; no resolver program is run");
                line.RequireWord("a program path");
                line.WarnRest();
                break;
            case "unpeer" or "unconfig":
                if (line.RequireWord("an address or association ID") is ConfigToken unpeer)
                {
                    _config.Unpeer.Add(unpeer.Text);
                }

                line.WarnRest();
                break;
            case "refclock":
                ParseRefclock(line);
                break;
            case "dscp":
                if (line.Integer(keyword, 0, 63) is int dscp)
                {
                    _config.Dscp = dscp;
                }

                line.WarnRest();
                break;
            case "leapsmearinterval":
                // ntpd 4.2.8 and NTPsec: seconds before the leap over which served time is smeared; 0 turns it off.
                if (line.Integer(keyword, 0, 30 * 86400) is int smear)
                {
                    _config.LeapSmearInterval = smear;
                }

                line.WarnRest();
                break;
            case "mdnstries" or "calldelay" or "revoke" or "automax" or "nonvolatile":
                line.Real(keyword);
                line.WarnRest();
                break;
            case "rlimit":
                ParseNumericOptions(line, RlimitRanges, "rlimit", (_, _) => { });
                break;
            case "device":
                ParseDevice(line);
                break;
            case "pollskewlist":
                ParsePollSkewList(line);
                break;
            case "nts":
                ParseNts(line);
                break;
            default:
                if (NotInEffectDirectives.ContainsKey(name))
                {
                    // Read as a whole: their arguments have no further meaning here.
                    line.SkipRest();
                }
                else
                {
                    line.Warn(keyword, Unknown("unknown directive ", keyword.Text, name, Directives) + "; the line is ignored");
                }

                break;
        }
    }

    private void ParseAssociation(LineReader line, AssociationKind kind)
    {
        ConfigToken? address = line.Next();
        while (address is { Text: "-4" or "-6" })
        {
            address = line.Next();
        }

        if (address is null)
        {
            line.ErrorAtEnd("expected an address or host name");
            return;
        }

        var association = new AssociationConfig(kind, address.Value.Text, address.Value.Line);
        ConfigToken? noval = null;
        ConfigToken? ntsOption = null;
        while (line.Next() is ConfigToken option)
        {
            string word = option.Text.ToLowerInvariant();
            switch (word)
            {
                case "iburst": association = association with { Iburst = true }; break;
                case "burst": association = association with { Burst = true }; break;
                case "prefer": association = association with { Prefer = true }; break;
                case "noselect": association = association with { NoSelect = true }; break;
                case "true": association = association with { True = true }; break;
                case "nts":
                    if (kind != AssociationKind.Server)
                    {
                        line.Error(option, $"NTS authenticates a server: 'nts' belongs on a server line, not a {kind.ToString().ToLowerInvariant()} line");
                        return;
                    }

                    association = association with { Nts = true };
                    break;
                case "noval":
                    noval = option;
                    association = association with { NoVal = true };
                    break;
                case "ca":
                    if (line.RequireWord("a CA file or directory") is ConfigToken ca)
                    {
                        ntsOption ??= option;
                        association = association with { NtsCa = ca.Text };
                    }

                    break;
                case "aead":
                    ntsOption ??= option;
                    if (ReadAead(line) is not ushort aead)
                    {
                        return;
                    }

                    association = association with { NtsAead = aead };
                    break;
                case "preempt" or "xleave" or "autokey":
                    line.NotInEffect(option, word, AssociationOptionsNotInEffect[word]);
                    break;
                case "minpoll":
                    if (line.Integer(option, 3, 17) is int minPoll)
                    {
                        association = association with { MinPoll = minPoll };
                    }

                    break;
                case "maxpoll":
                    if (line.Integer(option, 3, 17) is int maxPoll)
                    {
                        association = association with { MaxPoll = maxPoll };
                    }

                    break;
                case "version":
                    if (line.Integer(option, 1, 4) is int version)
                    {
                        association = association with { Version = version };
                    }

                    break;
                case "key":
                    if (line.Integer(option, 1, 65535) is int key)
                    {
                        association = association with { Key = (uint)key };
                    }

                    break;
                case "mode" when association.Refclock is not null:
                    if (line.Integer(option, 0, int.MaxValue) is int mode)
                    {
                        association = association with { Mode = mode };
                    }

                    break;
                case "ask" or "require" or "expire" or "cert":
                    // NTPsec's other options of an nts server line: read, and said to be not in effect.
                    line.NotInEffect(option, word, AssociationOptionsNotInEffect[word]);
                    line.RequireWord(word == "expire" ? "a time" : word == "cert" ? "a certificate file" : "an address");
                    break;
                case "ttl" or "mode":
                    line.NotInEffect(option, word, AssociationOptionsNotInEffect[word]);
                    line.Integer(option, 0, 255);
                    break;
                case "bias" or "maxdelay":
                    line.NotInEffect(option, word, AssociationOptionsNotInEffect[word]);
                    line.Real(option);
                    break;
                default:
                    line.Error(option, Unknown("unknown option ", option.Text, word, [.. AssociationFlags, .. AssociationValues]));
                    return;
            }
        }

        if (association.Refclock is { Type: not (1 or 20 or 22 or 28) } clock)
        {
            line.NotInEffect(address.Value, $"reference clock {clock}", $"driver type {clock.Type} is not available in this build yet; the association is not used");
        }

        if (ntsOption is ConfigToken stray && !association.Nts)
        {
            line.Warn(stray, $"{stray.Text.ToLowerInvariant()} applies to NTS associations (with 'nts') only; ignored");
        }

        if (association.Nts && !NtsKeAddress(line, address.Value, ref association))
        {
            return;
        }

        if (noval is ConfigToken insecure)
        {
            line.Warn(insecure, association.Nts
                ? "noval: the NTS-KE server's certificate is not validated, any certificate for any name is accepted; this is insecure: anyone on the path can pose as the server"
                : "noval applies to NTS associations (with 'nts') only; ignored");
        }

        if (association.MinPoll > association.MaxPoll)
        {
            line.Warn(address.Value, $"minpoll {association.MinPoll} is above maxpoll {association.MaxPoll}; maxpoll is raised to {association.MinPoll}");
            association = association with { MaxPoll = association.MinPoll };
        }

        _config.Associations.Add(association);
    }

    /// <summary>
    /// <c>server HOST:PORT nts</c> and <c>server [IPV6]:PORT nts</c> (NTPsec): the port is the NTS-KE server's, not
    /// NTP's. A bracketed IPv6 literal without a port is the bare address. False after an error at the port.
    /// </summary>
    private static bool NtsKeAddress(LineReader line, ConfigToken token, ref AssociationConfig association)
    {
        string text = token.Text;
        string host = text;
        string? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                line.Error(token, $"'{text}': an IPv6 address in brackets needs its ']'");
                return false;
            }

            host = text[1..close];
            if (close + 1 < text.Length)
            {
                if (text[close + 1] != ':')
                {
                    line.Error(token, $"'{text}': after ']' comes ':PORT' or nothing");
                    return false;
                }

                port = text[(close + 2)..];
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            host = text[..colon];
            port = text[(colon + 1)..];
        }

        int? number = null;
        if (port is not null)
        {
            if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value) || value is < 1 or > 65535)
            {
                line.Error(token, $"'{port}' is not an NTS-KE port (1 to 65535) in '{text}'");
                return false;
            }

            number = value;
        }

        association = association with { Address = host, NtsKePort = number };
        return true;
    }

    /// <summary><c>slewalways [yes|no]</c> (seed 003): never step the clock, only slew it.</summary>
    private void ParseSlewAlways(LineReader line)
    {
        ConfigToken? value = line.Next();
        string word = value?.Text.ToLowerInvariant() ?? "yes";
        if (word is not ("yes" or "no"))
        {
            line.Error(value!.Value, $"slewalways takes yes or no, not '{value.Value.Text}'");
            return;
        }

        _config.SlewAlways = word == "yes";
        line.WarnRest();
    }

    /// <summary>Name–number pairs (<c>tos</c>, <c>tinker</c>, <c>discard</c>, <c>mru</c>, <c>rlimit</c>), each checked against its range.</summary>
    private static void ParseNumericOptions(
        LineReader line,
        Dictionary<string, (double Min, double Max)> known,
        string directive,
        Action<ConfigToken, double> apply,
        (string Name, Action<LineReader, ConfigToken, ConfigToken> Parse)? dateOption = null)
    {
        bool any = false;
        while (line.Next() is ConfigToken option)
        {
            any = true;
            string word = option.Text.ToLowerInvariant();
            if (dateOption is { } date && word == date.Name)
            {
                if (line.RequireWord("a date YYYY-MM-DD") is not ConfigToken text)
                {
                    return;
                }

                date.Parse(line, option, text);
                continue;
            }

            if (!known.TryGetValue(word, out (double Min, double Max) range))
            {
                line.Error(option, Unknown($"unknown {directive} option ", option.Text, word, known.Keys));
                return;
            }

            if (line.Real(option) is not double value)
            {
                return;
            }

            if (value < range.Min || value > range.Max)
            {
                line.Error(option, $"{directive} {word} is {range.Min.ToString(CultureInfo.InvariantCulture)} to {range.Max.ToString(CultureInfo.InvariantCulture)}, not {value.ToString(CultureInfo.InvariantCulture)}");
                continue;
            }

            apply(option, value);
        }

        if (!any)
        {
            line.ErrorAtEnd($"expected one or more of: {string.Join(' ', known.Keys)}");
        }
    }

    /// <summary><c>tos</c>: the mitigation limits, and <c>basedate YYYY-MM-DD</c> (or days since 1900-01-01).</summary>
    private void ParseTos(LineReader line) =>
        ParseNumericOptions(line, TosRanges, "tos", (option, value) => ApplyTos(line, option, value), dateOption: ("basedate", ParseBaseDate));

    private void ParseBaseDate(LineReader line, ConfigToken option, ConfigToken date)
    {
        bool isDate = DateOnly.TryParseExact(date.Text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly day);
        if (!isDate && int.TryParse(date.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int days) && days is >= 25568 and < 100_000)
        {
            day = DateOnly.FromDateTime(new DateTime(1900, 1, 1).AddDays(days));
            isDate = true;
        }

        if (!isDate || day < new DateOnly(1970, 1, 2))
        {
            line.Error(date, $"tos basedate is a date YYYY-MM-DD from 1970-01-02 on (or days since 1900-01-01), not '{date.Text}'");
            return;
        }

        _config.Tos = _config.Tos with { BaseDate = day };
        line.NotInEffect(option, "tos basedate", "timestamps are placed in the era nearest the clock's reading");
    }

    private void ApplyTos(LineReader line, ConfigToken option, double value)
    {
        string word = option.Text.ToLowerInvariant();
        if (!TosInEffect.Contains(word))
        {
            line.NotInEffect(option, $"tos {word}", "only minclock, maxclock, minsane, orphan and orphanwait are in effect in this build");
        }

        TosOptions t = _config.Tos;
        _config.Tos = word switch
        {
            "minclock" => t with { MinClock = (int)value },
            "maxclock" => t with { MaxClock = (int)value },
            "minsane" => t with { MinSane = (int)value },
            "orphan" => t with { Orphan = (int)value },
            "orphanwait" => t with { OrphanWait = value },
            "mindist" => t with { MinDistance = value },
            "maxdist" => t with { MaxDistance = value },
            "beacon" => t with { Beacon = (int)value },
            "ceiling" => t with { Ceiling = (int)value },
            "floor" => t with { Floor = (int)value },
            "cohort" => t with { Cohort = value != 0 },
            "bcpollbstep" => t with { BroadcastPollBackStep = (int)value },
            "maxdisp" => t with { MaxDispersion = value },
            _ => t,
        };
    }

    private void ParseTinker(LineReader line) =>
        ParseNumericOptions(line, TinkerRanges, "tinker", (option, value) =>
        {
            string word = option.Text.ToLowerInvariant();
            if (!TinkerInEffect.Contains(word))
            {
                line.NotInEffect(option, $"tinker {word}", "only step, stepout, panic and freq are in effect in this build");
            }

            TinkerOptions t = _config.Tinker;
            _config.Tinker = word switch
            {
                "step" => t with { Step = value },
                "stepout" => t with { StepOut = value },
                "panic" => t with { Panic = value },
                "allan" => t with { Allan = value },
                "dispersion" => t with { Dispersion = value },
                "freq" => t with { Frequency = value },
                "huffpuff" => t with { HuffPuff = value },
                "stepback" => t with { StepBack = value },
                "stepfwd" => t with { StepForward = value },
                "tick" => t with { Tick = value },
                _ => t,
            };
        });

    private void ParseFudge(LineReader line)
    {
        ConfigToken? address = line.RequireWord("a reference clock address (127.127.t.u)");
        if (address is null)
        {
            return;
        }

        if (!RefclockAddress.TryParse(address.Value.Text, out RefclockAddress clock))
        {
            line.Warn(address.Value, $"'{address.Value.Text}' is not a reference clock address (127.127.t.u); fudge only applies to reference clocks, so the line is ignored");
            return;
        }

        FudgeConfig fudge = _config.Fudges.TryGetValue(clock, out FudgeConfig? existing) ? existing : new FudgeConfig(clock, address.Value.Line);
        var flags = new Dictionary<int, bool>(fudge.Flags);
        while (line.Next() is ConfigToken option)
        {
            string word = option.Text.ToLowerInvariant();
            switch (word)
            {
                case "stratum":
                    if (line.Integer(option, 0, 15) is int stratum)
                    {
                        fudge = fudge with { Stratum = stratum };
                    }

                    break;
                case "refid":
                    if (line.RequireWord("a reference ID of up to four characters") is ConfigToken refid)
                    {
                        if (refid.Text.Length > 4)
                        {
                            line.Warn(refid, $"refid '{refid.Text}' is longer than four characters; '{refid.Text[..4]}' is used");
                        }

                        fudge = fudge with { RefId = refid.Text.Length > 4 ? refid.Text[..4] : refid.Text };
                    }

                    break;
                case "time1":
                    fudge = fudge with { Time1 = line.Real(option) ?? fudge.Time1 };
                    break;
                case "time2":
                    fudge = fudge with { Time2 = line.Real(option) ?? fudge.Time2 };
                    break;
                case "flag1" or "flag2" or "flag3" or "flag4":
                    if (line.Integer(option, 0, 1) is int value)
                    {
                        flags[word[4] - '0'] = value == 1;
                    }

                    break;
                default:
                    line.Error(option, Unknown("unknown fudge option ", option.Text, word, ["stratum", "refid", "time1", "time2", "flag1", "flag2", "flag3", "flag4"]));
                    return;
            }
        }

        if (clock.Type is not (1 or 20 or 22 or 28))
        {
            line.NotInEffect(address.Value, $"fudge {clock}", $"driver type {clock.Type} is not available in this build yet");
        }
        else if (clock.Type is 20 or 22 && flags.GetValueOrDefault(3))
        {
            line.NotInEffect(address.Value, $"fudge {clock} flag3", KernelPps);
        }

        _config.Fudges[clock] = fudge with { Flags = flags };
    }

    private void ParseSystemFlags(LineReader line, bool enable)
    {
        bool any = false;
        while (line.Next() is ConfigToken flag)
        {
            any = true;
            string word = flag.Text.ToLowerInvariant();
            if (!SystemFlagNames.Contains(word))
            {
                line.Error(flag, Unknown("unknown system flag ", flag.Text, word, SystemFlagNames));
                continue;
            }

            if (!SystemFlagsInEffect.Contains(word))
            {
                line.NotInEffect(flag, $"{(enable ? "enable" : "disable")} {word}", word switch
                {
                    "mode7" => "mode 7 is never answered, so that monlist amplification cannot exist",
                    "pps" => KernelPps,
                    _ => "this flag is not in effect in this build",
                });
            }

            _config.SystemFlags = _config.SystemFlags.With(word, enable);
            _config.SystemFlagsWritten.Add(word);
        }

        if (!any)
        {
            line.ErrorAtEnd("expected one or more of: " + string.Join(' ', SystemFlagNames[..7]));
        }
    }

    /// <summary><c>interface|nic listen|ignore|drop all|ipv4|ipv6|wildcard|NAME|ADDR[/LEN]</c>.</summary>
    private void ParseInterface(LineReader line)
    {
        ConfigToken? action = line.RequireWord("listen, ignore or drop");
        if (action is null)
        {
            return;
        }

        InterfaceAction? verb = action.Value.Text.ToLowerInvariant() switch
        {
            "listen" => InterfaceAction.Listen,
            "ignore" => InterfaceAction.Ignore,
            "drop" => InterfaceAction.Drop,
            _ => null,
        };
        if (verb is null)
        {
            line.Error(action.Value, $"expected listen, ignore or drop, not '{action.Value.Text}'");
            return;
        }

        ConfigToken? target = line.RequireWord("an address, interface name, 'wildcard', 'all', 'ipv4' or 'ipv6'");
        if (target is null)
        {
            return;
        }

        string text = target.Value.Text;
        int slash = text.IndexOf('/');
        var rule = new InterfaceRule(verb.Value, text, target.Value.Line);
        if (IPAddress.TryParse(slash < 0 ? text : text[..slash], out IPAddress? address))
        {
            int bits = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
            int prefix = bits;
            if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
            {
                line.Error(target.Value, $"'{text}': the prefix length after '/' is 0 to {bits}");
                return;
            }

            rule = rule with { Address = address, PrefixLength = prefix };
        }
        else if (slash >= 0)
        {
            line.Error(target.Value, $"'{text}' is neither an address with a prefix length nor an interface name");
            return;
        }

        _config.InterfaceRules.Add(rule);
        line.WarnRest();
    }

    private void ParseInclude(LineReader line)
    {
        ConfigToken? file = line.RequireWord("a file name");
        if (file is null)
        {
            return;
        }

        line.WarnRest();
        string baseDirectory = Path.GetDirectoryName(_includeStack.Peek()) ?? ".";
        string path = Path.GetFullPath(Path.Combine(baseDirectory, file.Value.Text));
        if (_includeStack.Count > MaxIncludeDepth)
        {
            line.Error(file.Value, $"includefile nested more than {MaxIncludeDepth} deep");
            return;
        }

        if (_includeStack.Contains(path))
        {
            line.Error(file.Value, $"includefile '{file.Value.Text}' includes itself (a cycle)");
            return;
        }

        if (!File.Exists(path))
        {
            line.Warn(file.Value, $"includefile '{file.Value.Text}' does not exist; skipped");
            return;
        }

        try
        {
            ParseText(File.ReadAllText(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            line.Warn(file.Value, $"includefile '{file.Value.Text}' cannot be read ({e.Message}); skipped");
        }
    }

    /// <summary>"unknown thing 'x' (did you mean 'y'?)": the message for a word that is not one of <paramref name="candidates"/>.</summary>
    private static string Unknown(string prefix, string text, string word, IEnumerable<string> candidates) =>
        Suggest(word, candidates) is string guess ? $"{prefix}'{text}' (did you mean '{guess}'?)" : $"{prefix}'{text}'";

    /// <summary>The nearest valid word within two edits, for "did you mean" hints.</summary>
    internal static string? Suggest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = 3;
        foreach (string candidate in candidates)
        {
            int distance = EditDistance(word, candidate);
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = candidate;
            }
        }

        return best;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>Walks the tokens of one line and reports problems at the right place.</summary>
    private sealed class LineReader(IReadOnlyList<ConfigToken> tokens, string file, List<ConfigDiagnostic> diagnostics)
    {
        private int _next;

        /// <summary>The file the line is in.</summary>
        public string File => file;

        /// <summary>
        /// The next word. A word starting with <c>//</c> is not ntp.conf syntax but its evident reading is a comment
        /// (seed 003 annotates lines so): it and the rest of the line are ignored with a warning.
        /// </summary>
        public ConfigToken? Next()
        {
            if (_next >= tokens.Count)
            {
                return null;
            }

            ConfigToken token = tokens[_next++];
            if (token.Text.StartsWith("//", StringComparison.Ordinal) && _next > 1)
            {
                Warn(token, $"'{string.Join(' ', tokens.Skip(_next - 1).Select(t => t.Text))}' read as a comment ('#' starts comments in ntp.conf); ignored");
                _next = tokens.Count;
                return null;
            }

            return token;
        }

        /// <summary>Ignores the rest of the line (after a warning that said so).</summary>
        public void SkipRest() => _next = tokens.Count;

        /// <summary>The word after the current one, without taking it.</summary>
        public string? Peek() => _next < tokens.Count ? tokens[_next].Text : null;

        public ConfigToken? RequireWord(string expected)
        {
            ConfigToken? token = Next();
            if (token is null)
            {
                ErrorAtEnd($"expected {expected}");
            }

            return token;
        }

        /// <summary>Reads the integer argument of <paramref name="option"/>, reading a stray trailing comma as a slip.</summary>
        public int? Integer(ConfigToken option, int min, int max)
        {
            ConfigToken? token = Next();
            if (token is null)
            {
                ErrorAtEnd($"'{option.Text}' needs a number from {min} to {max}");
                return null;
            }

            string text = token.Value.Text;
            if (text.EndsWith(',') && int.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out int slip))
            {
                Warn(token.Value, $"stray ',' after '{option.Text} {text[..^1]}'; read as {slip}");
                text = text[..^1];
            }

            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
            {
                Error(token.Value, $"'{option.Text}' needs a number from {min} to {max}, not '{token.Value.Text}'");
                return null;
            }

            if (value < min || value > max)
            {
                Error(token.Value, $"'{option.Text}' is {min} to {max}, not {value}");
                return null;
            }

            return value;
        }

        public double? Real(ConfigToken option)
        {
            ConfigToken? token = Next();
            if (token is null)
            {
                ErrorAtEnd($"'{option.Text}' needs a number");
                return null;
            }

            if (!double.TryParse(token.Value.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            {
                Error(token.Value, $"'{option.Text}' needs a number, not '{token.Value.Text}'");
                return null;
            }

            return value;
        }

        /// <summary>Anything left on the line is ignored with a warning (for example the "//" notes in seed 003).</summary>
        public void WarnRest()
        {
            if (Next() is ConfigToken extra)
            {
                Warn(extra, $"unexpected '{string.Join(' ', tokens.Skip(_next - 1).Select(t => t.Text))}' at the end of the line; ignored");
                _next = tokens.Count;
            }
        }

        public void Warn(ConfigToken at, string message) =>
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Warning, file, at.Line, at.Column, message));

        /// <summary>A warning that <paramref name="what"/> is read and checked but not in effect in this build.</summary>
        public void NotInEffect(ConfigToken at, string what, string reason) =>
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Warning, file, at.Line, at.Column, $"'{what}' is read and checked but not in effect: {reason}") { NotInEffect = true });

        public void Error(ConfigToken at, string message) =>
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, file, at.Line, at.Column, message));

        public void ErrorAtEnd(string message)
        {
            ConfigToken last = tokens[^1];
            diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, file, last.Line, last.Column + last.Text.Length + 1, message));
        }
    }
}
