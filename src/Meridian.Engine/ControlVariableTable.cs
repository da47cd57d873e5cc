using System.Globalization;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// One mode 6 variable: its name, whether a plain read lists it (always, or only where <paramref name="ListedWhen"/>
/// holds), and its value in a snapshot (null: absent now).
/// </summary>
internal sealed record ControlVariable<T>(string Name, bool ListedByDefault, Func<T, string?> Value, Func<T, bool>? ListedWhen = null)
{
    public bool IsListed(T source) => ListedByDefault && (ListedWhen?.Invoke(source) ?? true);
}

/// <summary>
/// Every mode 6 variable the daemon answers, each name spelled once, in the order ntpd lists them: the system
/// variables and counters (association 0), the peer variables and statistics, and the reference clock variables.
/// A plain READVAR lists the default ones; counters are answered when named (ntpq's <c>sysstats</c>,
/// <c>iostats</c>, <c>kerninfo</c>, <c>authinfo</c>, <c>monstats</c>, <c>pstats</c>), as in ntpd.
/// </summary>
internal static class ControlVariableTable
{
    public static readonly IReadOnlyList<ControlVariable<EngineSnapshot>> System = WithResetVariants(
    [
        new("version", true, s => Quote(s.Host.Version)),
        new("processor", true, s => Quote(s.Host.Processor)),
        new("system", true, s => Quote(s.Host.System)),
        new("leap", true, s => N((int)s.State.Leap)),
        new("stratum", true, s => N(s.State.Stratum)),
        new("precision", true, s => N(s.State.Precision)),
        new("rootdelay", true, s => Milliseconds(s.State.RootDelay, 3)),
        new("rootdisp", true, s => Milliseconds(s.State.RootDispersion, 3)),
        new("refid", true, s => s.State.Stratum <= 1 || !s.State.IsSynchronized ? s.State.ReferenceId.ToAscii() : s.State.ReferenceId.ToDottedQuad()),
        new("reftime", true, s => Hex(s.State.ReferenceTime)),
        new("clock", true, s => Hex(s.Clock)),
        new("peer", true, s => N(s.SystemPeerId)),
        new("tc", true, s => N(s.PollExponent)),
        new("mintc", true, _ => N(NtpConstants.MinPoll)),
        new("offset", true, s => Milliseconds(s.Offset, 6)),
        new("frequency", true, s => Ppm(s.Frequency)),
        new("sys_jitter", true, s => Milliseconds(s.SystemJitter, 6)),
        new("clk_jitter", true, s => Milliseconds(s.ClockJitter, 6)),
        new("clk_wander", true, s => Ppm(s.Wander)),
        // ntpd 4.2.8 lists these after clk_wander once a leap seconds file is loaded (ntp_control.c CS_TAI...).
        new("tai", true, s => s.Leaps?.TaiOffset(s.Clock) is int tai and > 0 ? N(tai) : null),
        new("leapsec", true, s => s.Leaps is { } t && (t.NextLeap(s.Clock) ?? t.LastLeap(s.Clock)) is LeapSecond leap ? Minutes(leap.NtpSeconds) : null),
        new("expire", true, s => s.Leaps is { } t ? Minutes(t.Expires) : null),
        new("leapsmearinterval", true, s => s.LeapSmearInterval > 0 ? N((long)s.LeapSmearInterval) : null),
        // As ntpd's doffset: served minus clock, milliseconds (negative while an insertion is smeared).
        new("leapsmearoffset", true, s => s.LeapSmearInterval > 0 ? Milliseconds(0 - s.LeapSmearOffset, 3) : null),

        new("ss_uptime", false, s => N((long)s.Uptime)),
        new("ss_reset", false, s => N((long)s.Uptime)),
        new("ss_received", false, s => N(s.Packets.Received + s.Packets.ControlQueries)),
        new("ss_thisver", false, s => N(s.Packets.CurrentVersion)),
        new("ss_oldver", false, s => N(s.Packets.OlderVersion)),
        new("ss_ver1", false, s => N(s.Packets.Version1)),
        new("ss_ver1client", false, s => N(s.Packets.Version1Client)),
        new("ss_ver1zero", false, s => N(s.Packets.Version1Zero)),
        new("ss_ver1symm", false, s => N(s.Packets.Version1Symmetric)),
        new("ss_badformat", false, s => N(s.Packets.Dropped(DropReason.BadLength) + s.Packets.Dropped(DropReason.BadVersion))),
        new("ss_badauth", false, s => N(s.Packets.Dropped(DropReason.BadAuth))),
        new("ss_declined", false, s => N(s.Packets.Dropped(DropReason.Declined) + s.Packets.Dropped(DropReason.Mode7) + s.Packets.Dropped(DropReason.PeerLimit))),
        new("ss_restricted", false, s => N(s.Packets.Dropped(DropReason.Restricted))),
        new("ss_limited", false, s => N(s.Packets.Dropped(DropReason.Limited) + s.Packets.Dropped(DropReason.ControlLimited))),
        new("ss_kodsent", false, s => N(s.Packets.Kisses)),
        new("ss_badversion", false, s => N(s.Packets.Dropped(DropReason.BadVersion))),
        new("ss_badlength", false, s => N(s.Packets.Dropped(DropReason.BadLength))),
        new("ss_mode7", false, s => N(s.Packets.Dropped(DropReason.Mode7))),
        new("ss_busy", false, s => N(s.Packets.Dropped(DropReason.Busy))),
        new("ss_processed", false, s => N(s.Packets.Answered)),
        new("ss_numctlreq", false, s => N(s.Packets.ControlQueries)),
        new("bcastdelay", false, s => Milliseconds(s.BroadcastDelay, 3)),
        new("authdelay", false, _ => "0.000"),
        new("watchdog", false, s => N(double.IsNaN(s.SinceClockUpdate) ? 0 : (long)s.SinceClockUpdate)),
        new("iostats_reset", false, s => N((long)s.Uptime)),
        new("total_rbuf", false, s => N(s.Io.QueueCapacity)),
        new("free_rbuf", false, s => N(s.Io.QueueCapacity - s.Io.Queued)),
        new("used_rbuf", false, s => N(s.Io.Queued)),
        new("rbuf_lowater", false, _ => "0"),
        new("io_dropped", false, s => N(s.Io.Dropped)),
        new("io_ignored", false, s => N(s.Io.Ignored)),
        new("io_received", false, s => N(s.Io.Received)),
        new("io_sent", false, s => N(s.Io.Sent)),
        new("io_sendfailed", false, s => N(s.Io.SendFailed)),
        new("io_wakeups", false, s => N(s.Io.Wakeups)),
        new("io_goodwakeups", false, s => N(s.Io.GoodWakeups)),
        new("authreset", false, s => N((long)s.Uptime)),
        new("authkeys", false, s => N(s.Auth.StoredKeys)),
        new("authfreek", false, _ => "0"),
        new("authklookups", false, s => N(s.Auth.Lookups)),
        new("authknotfound", false, s => N(s.Auth.NotFound)),
        new("authkuncached", false, _ => "0"),
        new("authkexpired", false, _ => "0"),
        new("authencrypts", false, s => N(s.Auth.DigestEncrypts + s.Auth.CmacEncrypts)),
        new("authdigestencrypts", false, s => N(s.Auth.DigestEncrypts)),
        new("authcmacencrypts", false, s => N(s.Auth.CmacEncrypts)),
        new("authdecrypts", false, s => N(s.Auth.DigestDecrypts + s.Auth.CmacDecrypts)),
        new("authdigestdecrypts", false, s => N(s.Auth.DigestDecrypts)),
        new("authdigestfails", false, s => N(s.Auth.DigestFails)),
        new("authcmacdecrypts", false, s => N(s.Auth.CmacDecrypts)),
        new("authcmacfails", false, s => N(s.Auth.CmacFails)),
        new("mru_enabled", false, s => (s.Flags & SystemFlags.Monitor) != 0 ? "0x1" : "0x0"),
        new("mru_hashslots", false, s => N(s.Mru.Count)),
        new("mru_depth", false, s => N(s.Mru.Count)),
        new("mru_deepest", false, s => N(s.Mru.Deepest)),
        new("mru_maxdepth", false, s => N(s.Mru.Capacity)),
        new("mru_mindepth", false, s => N(s.Mru.Settings.MinDepth)),
        new("mru_maxage", false, s => N((long)s.Mru.Settings.MaxAge)),
        new("mru_minage", false, _ => "0"),
        new("mru_mem", false, s => N(((long)s.Mru.Count * MruList.EntrySize + 1023) / 1024)),
        new("mru_maxmem", false, s => N(((long)s.Mru.Capacity * MruList.EntrySize + 1023) / 1024)),
        new("mru_exists", false, s => N(s.Mru.Exists)),
        new("mru_new", false, s => N(s.Mru.New)),
        new("mru_recycleold", false, s => N(s.Mru.RecycledOld)),
        new("mru_recyclefull", false, s => N(s.Mru.RecycledFull)),
        new("mru_none", false, _ => "0"),
        new("mru_oldest_age", false, s => N(s.Mru.Oldest is NtpTimestamp oldest ? (long)Math.Max(0, (s.Clock - oldest).ToSeconds()) : 0)),
        new("koffset", false, s => s.Kernel is { } k ? Milliseconds(k.Offset, 3) : null),
        new("kfreq", false, s => s.Kernel is { } k ? F(k.FrequencyPpm, 3) : null),
        new("kmaxerr", false, s => s.Kernel is { } k ? Milliseconds(k.MaxError, 3) : null),
        new("kesterr", false, s => s.Kernel is { } k ? Milliseconds(k.EstimatedError, 3) : null),
        new("kstflags", false, s => s.Kernel is { } k ? KernelFlags(k.Status) : null),
        new("ktimeconst", false, s => s.Kernel is { } k ? N(k.TimeConstant) : null),
        new("kprecis", false, s => s.Kernel is { } k ? Milliseconds(k.Precision, 6) : null),
        new("kfreqtol", false, s => s.Kernel is { } k ? F(k.TolerancePpm, 0) : null),
        new("kppsfreq", false, s => s.Kernel is { } k ? F(k.PpsFrequencyPpm, 3) : null),
        new("kppsstab", false, s => s.Kernel is { } k ? F(k.PpsStability, 3) : null),
        new("kppsjitter", false, s => s.Kernel is { } k ? Milliseconds(k.PpsJitter, 3) : null),
        new("kppscalibdur", false, s => s.Kernel is { } k ? N(1L << k.PpsShift) : null),
        new("kppscalibs", false, s => s.Kernel is { } k ? N(k.PpsCalibrations) : null),
        new("kppsjitexc", false, s => s.Kernel is { } k ? N(k.PpsJitterExceeded) : null),
        new("kppsstbexc", false, s => s.Kernel is { } k ? N(k.PpsStabilityExceeded) : null),
        new("kppscaliberrs", false, s => s.Kernel is { } k ? N(k.PpsCalibrationErrors) : null),
        new("sys_flags", false, s => Quote(FlagWords(s.Flags))),

        // NTS, with NTPsec's names (its ntpq's ntsinfo asks for these), then ours for what NTPsec does not split out.
        new("nts_client_send", false, s => N(s.Nts?.ClientSent ?? 0)),
        new("nts_client_recv_good", false, s => N(s.Nts?.ClientReceivedGood ?? 0)),
        new("nts_client_recv_bad", false, s => N(s.Nts?.ClientReceivedBad ?? 0)),
        new("nts_server_send", false, s => N(s.Nts?.ServerSent ?? 0)),
        new("nts_server_recv_good", false, s => N(s.Nts?.ServerReceivedGood ?? 0)),
        new("nts_server_recv_bad", false, s => N(s.Nts?.ServerReceivedBad ?? 0)),
        new("nts_cookie_make", false, s => N((s.Nts?.CookiesMade ?? 0) + s.NtsKe.CookiesMade)),
        new("nts_cookie_decode", false, s => N(s.Nts?.Decoded(0) ?? 0)),
        new("nts_cookie_decode_old", false, s => N(s.Nts?.Decoded(1) ?? 0)),
        new("nts_cookie_decode_old2", false, s => N(s.Nts?.Decoded(2) ?? 0)),
        new("nts_cookie_decode_older", false, s => N(s.Nts?.Decoded(3) ?? 0)),
        new("nts_cookie_decode_too_old", false, s => N(s.Nts?.Decoded(Nts.NtsCounters.Ages - 1) ?? 0)),
        new("nts_cookie_decode_error", false, s => N(s.Nts?.DecodeErrors ?? 0)),
        new("nts_ke_serves_good", false, s => N(s.NtsKe.Responses)),
        new("nts_ke_serves_bad", false, s => N(s.NtsKe.ServesBad)),
        new("nts_ke_probes_good", false, s => N(s.NtsKe.ProbesGood)),
        new("nts_ke_probes_bad", false, s => N(s.NtsKe.ProbesBad)),
        new("nts_ke_handshakes", false, s => N(s.NtsKe.Handshakes)),
        new("nts_ke_refused", false, s => N(s.NtsKe.Refused)),
        new("nts_server_naks", false, s => N(s.Nts?.NaksSent ?? 0)),
        new("nts_server_badcookie", false, s => N(s.Packets.Dropped(DropReason.NtsBadCookie))),
        new("nts_server_badauth", false, s => N(s.Packets.Dropped(DropReason.NtsBadAuth))),
        new("nts_server_replay", false, s => N(s.Packets.Dropped(DropReason.NtsReplay))),
        new("nts_server_malformed", false, s => N(s.Packets.Dropped(DropReason.NtsMalformed))),
    ]);

    public static readonly IReadOnlyList<ControlVariable<PeerSnapshot>> Peer =
    [
        new("srcadr", true, p => p.Address.Address.ToString()),
        new("srcport", true, p => N(p.Address.Port)),
        new("srchost", true, p => p.Name is { } name ? Quote(name) : null),
        new("dstadr", true, p => p.LocalAddress?.ToString() ?? (p.IsRefclock ? "127.0.0.1" : "0.0.0.0")),
        new("dstport", true, _ => "123"),
        new("leap", true, p => N((int)p.Leap)),
        new("version", true, p => N(p.Version)),
        new("hmode", true, p => N(p.Mode switch { AssociationMode.SymmetricActive => 1, AssociationMode.SymmetricPassive => 2, AssociationMode.Broadcast => 5, AssociationMode.BroadcastClient => 6, _ => 3 })),
        new("stratum", true, p => N(p.Stratum)),
        new("ppoll", true, p => N(p.PeerPoll)),
        new("hpoll", true, p => N(p.HostPoll)),
        new("precision", true, p => N(p.Precision)),
        new("rootdelay", true, p => Milliseconds(p.RootDelay, 3)),
        new("rootdisp", true, p => Milliseconds(p.RootDispersion, 3)),
        new("refid", true, p => p.ReferenceIdText),
        new("reftime", true, p => Hex(p.ReferenceTime)),
        new("rec", true, p => Hex(p.Received)),
        new("org", true, p => Hex(p.Origin)),
        new("xmt", true, p => Hex(p.Transmit)),
        new("reach", true, p => "0x" + p.Reach.ToString("x", CultureInfo.InvariantCulture)),
        new("unreach", true, p => N(p.Unreach)),
        new("delay", true, p => Milliseconds(p.Delay, 6)),
        new("offset", true, p => Milliseconds(p.Offset, 6)),
        new("jitter", true, p => Milliseconds(p.Jitter, 6)),
        new("dispersion", true, p => Milliseconds(p.Dispersion, 6)),
        new("keyid", true, p => N(p.KeyId)),
        new("filtdelay", true, p => Stages(p, st => st.Delay)),
        new("filtoffset", true, p => Stages(p, st => st.Offset)),
        new("filtdisp", true, p => Stages(p, st => st.Dispersion)),
        new("pmode", true, p => N(p.Mode switch { AssociationMode.SymmetricActive => 2, AssociationMode.SymmetricPassive => 1, AssociationMode.BroadcastClient => 5, AssociationMode.Broadcast => 0, _ => 4 })),
        new("flash", true, _ => "0x0"),
        new("headway", true, _ => "0"),

        new("timerec", false, p => N(double.IsNaN(p.SinceReceived) ? 0 : (long)p.SinceReceived)),
        new("timer", false, p => N((long)Math.Ceiling(p.UntilPoll))),
        new("timereach", false, p => N(double.IsNaN(p.SinceReachChange) ? 0 : (long)p.SinceReachChange)),
        new("sent", false, p => N(p.Sent)),
        new("received", false, p => N(p.PacketsReceived)),
        new("badauth", false, p => N(p.BadAuth)),
        new("bogusorg", false, p => N(p.BogusOrigin)),
        new("oldpkt", false, p => N(p.Duplicates)),
        new("seldisp", false, _ => "0"),
        new("selbroken", false, _ => "0"),
        new("candidate", false, p => N(p.Tally is TallyCode.SystemPeer or TallyCode.Candidate or TallyCode.Backup ? 1 : 0)),
        // NTPsec's name and value: the cookies in the jar, -1 without NTS keys. Its ntpq -p shows the count in the t
        // column in place of 'u' whenever the value is not -1. Listed only for NTS associations, so that a plain
        // association's variables stay ntpd's; asked for by name (NTPsec's pstats) it is -1.
        new("ntscookies", true, p => N(p.Nts?.Cookies ?? -1), p => p.Nts is not null),
        new("ntsaead", true, p => p.Nts is { } n ? N(n.Aead) : null),
        new("ntskeserver", true, p => p.Nts is { } n ? Quote(n.KeyExchangeServer) : null),
        new("ntsnaks", true, p => p.Nts is { } n ? N(n.Naks) : null),
        new("ntskegood", true, p => p.Nts is { } n ? N(n.KeyExchanges) : null),
        new("ntskebad", true, p => p.Nts is { } n ? N(n.KeyExchangeFailures) : null),
        new("ntskefail", true, p => p.Nts?.LastFailure is { } reason ? Quote(Shorten(reason, 160)) : null),
    ];

    /// <summary>A reference clock's variables in ntpd's order; the fudge times only when configured.</summary>
    public static readonly IReadOnlyList<ControlVariable<PeerSnapshot>> Clock =
    [
        new("device", true, p => Quote(p.Driver?.Description ?? (p.IsLocalClock ? "Undisciplined local clock" : $"Reference clock type {p.RefclockType}"))),
        new("timecode", true, p => Quote(p.Driver?.Timecode ?? "")),
        new("poll", true, p => N(p.Driver?.Polls ?? p.Sent)),
        new("noreply", true, p => N(p.Driver?.NoReply ?? 0)),
        new("badformat", true, p => N(p.Driver?.BadFormat ?? 0)),
        new("baddata", true, p => N(p.Driver?.BadData ?? 0)),
        new("fudgetime1", true, p => p.RefclockTime1 is double t ? Milliseconds(t, 3) : null),
        new("fudgetime2", true, p => p.RefclockTime2 is double t ? Milliseconds(t, 3) : null),
        new("stratum", true, p => N(p.RefclockStratum)),
        new("refid", true, p => p.RefclockId.ToAscii()),
        new("flags", true, p => N(p.RefclockFlags)),
    ];

    /// <summary>The system flags as ntpdc's <c>sysinfo</c> lists them (<c>auth monitor ntp kernel stats</c>).</summary>
    public static string FlagWords(SystemFlags flags)
    {
        (SystemFlags Flag, string Word)[] words =
        [
            (SystemFlags.Auth, "auth"), (SystemFlags.BroadcastClient, "bclient"), (SystemFlags.Calibrate, "calibrate"), (SystemFlags.Kernel, "kernel"),
            (SystemFlags.Monitor, "monitor"), (SystemFlags.Ntp, "ntp"), (SystemFlags.Pps, "pps"), (SystemFlags.Stats, "stats"), (SystemFlags.Mode7, "mode7"),
        ];
        return string.Join(' ', words.Where(w => (flags & w.Flag) != 0).Select(w => w.Word));
    }

    /// <summary>NTPsec's ntpq also asks for each <c>ss_</c> counter since the last reset (<c>_r</c>); nothing resets them here.</summary>
    private static List<ControlVariable<EngineSnapshot>> WithResetVariants(List<ControlVariable<EngineSnapshot>> table)
    {
        int index = table.FindLastIndex(v => v.Name.StartsWith("ss_", StringComparison.Ordinal)) + 1;
        table.InsertRange(index, table.Where(v => v.Name.StartsWith("ss_", StringComparison.Ordinal)).Select(v => v with { Name = v.Name + "_r" }).ToList());
        return table;
    }

    /// <summary>The kernel status bits in ntpd's words (<c>pll nano</c>).</summary>
    private static string KernelFlags(int status)
    {
        (int Bit, string Name)[] names =
        [
            (0x0001, "pll"), (0x0002, "ppsfreq"), (0x0004, "ppstime"), (0x0008, "fll"), (0x0010, "ins"), (0x0020, "del"),
            (0x0040, "unsync"), (0x0080, "freqhold"), (0x0100, "ppssignal"), (0x0200, "ppsjitter"), (0x0400, "ppswander"),
            (0x0800, "ppserror"), (0x1000, "clockerr"), (0x2000, "nano"), (0x4000, "mode=fll"), (0x8000, "src=B"),
        ];
        return string.Join(' ', names.Where(n => (status & n.Bit) != 0).Select(n => n.Name));
    }

    private static string Stages(PeerSnapshot p, Func<ClockFilter.Stage, double> pick) =>
        string.Join(' ', p.Stages.Select(st => st.IsEmpty ? "0.00" : (pick(st) * 1e3).ToString("0.00", CultureInfo.InvariantCulture)));

    public static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string F(double value, int decimals) =>
        value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Ppm(double secondsPerSecond) => (secondsPerSecond * 1e6).ToString("0.000000", CultureInfo.InvariantCulture);

    public static string Quote(string text) => "\"" + text.Replace("\"", "'", StringComparison.Ordinal) + "\"";

    /// <summary>A message for a quoted value: printable ASCII only (mode 6 text is ASCII), at most <paramref name="length"/> characters.</summary>
    private static string Shorten(string text, int length)
    {
        string ascii = string.Concat(text.Select(c => c is < ' ' or > '~' ? '?' : c));
        return ascii.Length <= length ? ascii : ascii[..(length - 3)] + "...";
    }

    private static string Milliseconds(double seconds, int decimals) =>
        (seconds * 1e3).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>ntpd's <c>ctl_putfs</c> form of an NTP second count: UTC as <c>YYYYMMDDhhmm</c> (<c>201701010000</c>).</summary>
    private static string Minutes(long ntpSeconds) =>
        LeapTable.ToUtc(ntpSeconds).ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture);

    /// <summary>NTP timestamps as ntpd sends them: <c>0xe5b8c3a1.7c6f2b1a</c>.</summary>
    public static string Hex(NtpTimestamp t) =>
        string.Create(CultureInfo.InvariantCulture, $"0x{(uint)(t.Value >> 32):x8}.{(uint)t.Value:x8}");
}
