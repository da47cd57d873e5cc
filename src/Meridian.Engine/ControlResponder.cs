using System.Globalization;
using System.Text;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>What a daemon says about itself in mode 6 (<c>version</c>, <c>processor</c>, <c>system</c>).</summary>
public sealed record HostDescription(string Version, string Processor, string System)
{
    public static HostDescription Unknown { get; } = new("ntpd Meridian", "unknown", "unknown");
}

/// <summary>
/// Answers mode 6 (RFC 9327) requests from the engine's state: READSTAT (the association list with status words),
/// READVAR (system variables for association 0, peer variables otherwise; a request may name the variables it
/// wants), REQ_NONCE and READ_MRU. Responses are split into fragments as ntpd does. <c>:config</c> needs a request
/// authenticated with the control key; variable writes and traps are refused.
/// </summary>
public sealed class ControlResponder(NtpEngine engine, IClock clock, HostDescription host, Random random, ControlKey? controlKey = null, Func<string, string>? configure = null)
{
    /// <summary>How long a nonce from REQ_NONCE stays good for READ_MRU, seconds (ntpd: 16).</summary>
    public const double NonceLifetime = 16;

    private const int MaxNonces = 64;

    /// <summary>Issued nonces with who asked and when: a READ_MRU must echo one, so a spoofed source gets nothing.</summary>
    private readonly Queue<(string Nonce, System.Net.IPAddress Client, double Time)> _nonces = new();

    /// <summary>Answers one request; returns the response datagrams (none for anything that is not a request).</summary>
    public List<byte[]> Respond(ReadOnlySpan<byte> request, double now, System.Net.IPEndPoint? from = null)
    {
        if (!ControlHeader.TryRead(request, out ControlHeader header, out ReadOnlySpan<byte> data, out _) || header.IsResponse || header.IsError || header.More)
        {
            return [];
        }

        var reply = header with { IsResponse = true, IsError = false, More = false, Offset = 0, Count = 0, Version = Math.Clamp(header.Version, (byte)1, (byte)4) };
        bool authenticated = Authenticated(request, header.Count);
        List<byte[]> response = Answer(header, reply, data, now, from, authenticated);
        return authenticated ? response.ConvertAll(Sign) : response;
    }

    /// <summary>
    /// A request is authenticated when it ends in the control key's ID and a MAC of everything before them (ntpq pads
    /// the request to a multiple of 8 octets first).
    /// </summary>
    private bool Authenticated(ReadOnlySpan<byte> request, int count)
    {
        if (controlKey is null)
        {
            return false;
        }

        int macLength = 4 + Mac.DigestLength(controlKey.Algorithm);
        int signed = request.Length - macLength;
        if (signed < ControlHeader.Size + count || signed % 4 != 0)
        {
            return false;
        }

        uint keyId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(request[signed..]);
        return keyId == controlKey.Id && Mac.Verify(controlKey.Algorithm, controlKey.Secret, request[..signed], request[(signed + 4)..]);
    }

    /// <summary>Responses to authenticated requests carry a MAC too, over the fragment padded to 8 octets.</summary>
    private byte[] Sign(byte[] fragment)
    {
        var padded = new byte[(fragment.Length + 7) & ~7];
        fragment.CopyTo(padded, 0);
        return Mac.Append(controlKey!.Algorithm, controlKey.Id, controlKey.Secret, padded);
    }

    private List<byte[]> Answer(ControlHeader header, ControlHeader reply, ReadOnlySpan<byte> data, double now, System.Net.IPEndPoint? from, bool authenticated)
    {
        switch (header.Opcode)
        {
            case ControlOpcode.ReadStatus:
                return header.AssociationId == 0 ? ReadStatus(reply) : ReadVariables(reply, header.AssociationId, data, now);
            case ControlOpcode.ReadVariables:
                return ReadVariables(reply, header.AssociationId, data, now);
            case ControlOpcode.ReadClock:
                return Error(reply, ControlError.UnknownAssociation);
            case ControlOpcode.RequestNonce:
                return RequestNonce(reply, now, from);
            case ControlOpcode.ReadMru:
                return ReadMru(reply, data, now, from);
            case ControlOpcode.Configure when authenticated && configure is not null:
                string answer = configure(Encoding.ASCII.GetString(data).TrimEnd('\0'));
                return (reply with { Status = SystemStatus() }).Fragments(Encoding.ASCII.GetBytes(answer));
            case ControlOpcode.WriteVariables or ControlOpcode.WriteClock when authenticated:
                // No variable is writable in this build.
                return Error(reply, ControlError.UnknownVariable);
            case ControlOpcode.WriteVariables or ControlOpcode.WriteClock or ControlOpcode.Configure or ControlOpcode.SaveConfig or ControlOpcode.SetTrap or ControlOpcode.UnsetTrap:
                return Error(reply, ControlError.PermissionDenied);
            default:
                return Error(reply, ControlError.BadOpcode);
        }
    }

    /// <summary>The system status word: leap, clock source, event counter and last event.</summary>
    public ushort SystemStatus()
    {
        SystemState state = engine.State;
        int source = engine.SystemPeer is null ? 0 : engine.SystemPeer.IsRefclock ? (engine.SystemPeer.IsLocalClock ? 5 : 1) : 6;
        return ControlStatus.System(state.Leap, source, engine.SystemEventCount, engine.LastSystemEvent);
    }

    public static ushort PeerStatus(Association a) =>
        ControlStatus.Peer(
            configured: a.Mode != AssociationMode.SymmetricPassive,
            authEnabled: false,
            authentic: false,
            reachable: a.Reach != 0,
            broadcast: false,
            Selection(a.Tally),
            a.EventCount,
            (int)a.LastEvent);

    public static int Selection(TallyCode tally) => tally switch
    {
        TallyCode.Falseticker => 1,
        TallyCode.Excess => 2,
        TallyCode.Outlier => 3,
        TallyCode.Candidate => 4,
        TallyCode.Backup => 5,
        TallyCode.SystemPeer => 6,
        TallyCode.PpsPeer => 7,
        _ => 0,
    };

    private List<byte[]> ReadStatus(ControlHeader reply)
    {
        var data = new byte[engine.Associations.Count * 4];
        for (int i = 0; i < engine.Associations.Count; i++)
        {
            Association a = engine.Associations[i];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 * i), (ushort)a.Id);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 * i + 2), PeerStatus(a));
        }

        return (reply with { Status = SystemStatus() }).Fragments(data);
    }

    private List<byte[]> ReadVariables(ControlHeader reply, ushort associationId, ReadOnlySpan<byte> request, double now)
    {
        List<KeyValuePair<string, string>> all;
        ushort status;
        if (associationId == 0)
        {
            all = SystemVariables();
            status = SystemStatus();
            if (request.Length > 0)
            {
                // Counters are answered when named (ntpq's sysstats), as in ntpd.
                all.AddRange(StatisticsVariables(now));
            }
        }
        else if (engine.Associations.FirstOrDefault(a => a.Id == associationId) is { } association)
        {
            all = PeerVariables(association, now);
            status = PeerStatus(association);
        }
        else
        {
            return Error(reply, ControlError.UnknownAssociation);
        }

        List<KeyValuePair<string, string?>> wanted = ControlVariables.Parse(request);
        IEnumerable<KeyValuePair<string, string>> chosen = all;
        if (wanted.Count > 0)
        {
            var byName = all.ToDictionary(v => v.Key, StringComparer.Ordinal);
            if (wanted.FirstOrDefault(w => !byName.ContainsKey(w.Key)) is { Key: not null } unknown)
            {
                return Error(reply with { Status = status }, ControlError.UnknownVariable);
            }

            chosen = wanted.Select(w => byName[w.Key]);
        }

        byte[] text = Encoding.ASCII.GetBytes(ControlVariables.Format(chosen));
        return (reply with { Status = status }).Fragments(text);
    }

    private List<byte[]> RequestNonce(ControlHeader reply, double now, System.Net.IPEndPoint? from)
    {
        var bytes = new byte[12];
        random.NextBytes(bytes);
        string nonce = Convert.ToHexStringLower(bytes);
        _nonces.Enqueue((nonce, from?.Address ?? System.Net.IPAddress.None, now));
        while (_nonces.Count > MaxNonces)
        {
            _nonces.Dequeue();
        }

        return (reply with { Status = SystemStatus() }).Fragments(Encoding.ASCII.GetBytes("nonce=" + nonce));
    }

    /// <summary>
    /// READ_MRU (ntpd's mrulist): the entries most recent first, as many as the request's <c>frags</c> or
    /// <c>limit</c> allow, each as addr/last/first/ct/mv/rs, then <c>now</c> and <c>last.newest</c>, which tell
    /// the client the list is complete.
    /// </summary>
    private List<byte[]> ReadMru(ControlHeader reply, ReadOnlySpan<byte> request, double now, System.Net.IPEndPoint? from)
    {
        var parameters = ControlVariables.Parse(request).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        string? nonce = parameters.GetValueOrDefault("nonce");
        System.Net.IPAddress client = from?.Address ?? System.Net.IPAddress.None;
        if (nonce is null || !_nonces.Any(n => n.Nonce == nonce && n.Client.Equals(client) && now - n.Time <= NonceLifetime))
        {
            return Error(reply, ControlError.BadValue);
        }

        int frags = int.TryParse(parameters.GetValueOrDefault("frags"), NumberStyles.None, CultureInfo.InvariantCulture, out int f) ? Math.Clamp(f, 1, 32) : 8;
        int limit = int.TryParse(parameters.GetValueOrDefault("limit"), NumberStyles.None, CultureInfo.InvariantCulture, out int l) ? Math.Clamp(l, 1, 3 * 32) : int.MaxValue;
        int budget = frags * ControlHeader.MaxFragmentData - 128;
        var text = new StringBuilder("nonce=" + nonce);
        List<MruEntry> entries = engine.Mru.Snapshot(limit);
        NtpTimestamp newest = entries.Count > 0 ? entries[0].Last : NtpTimestamp.Zero;
        for (int i = 0; i < entries.Count; i++)
        {
            MruEntry e = entries[i];
            System.Net.IPEndPoint endPoint = e.Key.ToEndPoint();
            string address = e.Key.IPv6 ? $"[{endPoint.Address}]:{endPoint.Port}" : $"{endPoint.Address}:{endPoint.Port}";
            string item = string.Create(CultureInfo.InvariantCulture,
                $", addr.{i}={address}, last.{i}={Hex(e.Last)}, first.{i}={Hex(e.First)}, ct.{i}={e.Count}, mv.{i}={e.ModeVersion}, rs.{i}=0x0");
            if (text.Length + item.Length > budget)
            {
                break;
            }

            text.Append(item);
        }

        text.Append(", now=").Append(Hex(clock.Now())).Append(", last.newest=").Append(Hex(newest));
        return (reply with { Status = SystemStatus() }).Fragments(Encoding.ASCII.GetBytes(text.ToString()));
    }

    private static List<byte[]> Error(ControlHeader reply, ControlError error) =>
        (reply with { IsError = true, Status = (ushort)((int)error << 8) }).Fragments([]);

    private List<KeyValuePair<string, string>> SystemVariables()
    {
        SystemState s = engine.State;
        IClockDiscipline d = engine.Discipline;
        return
        [
            new("version", Quote(host.Version)),
            new("processor", Quote(host.Processor)),
            new("system", Quote(host.System)),
            new("leap", ((int)s.Leap).ToString(CultureInfo.InvariantCulture)),
            new("stratum", s.Stratum.ToString(CultureInfo.InvariantCulture)),
            new("precision", s.Precision.ToString(CultureInfo.InvariantCulture)),
            new("rootdelay", Milliseconds(s.RootDelay, 3)),
            new("rootdisp", Milliseconds(s.RootDispersion, 3)),
            new("refid", s.Stratum <= 1 || engine.SystemPeer is { IsRefclock: true } || !s.IsSynchronized ? s.ReferenceId.ToAscii() : s.ReferenceId.ToDottedQuad()),
            new("reftime", Hex(s.ReferenceTime)),
            new("clock", Hex(clock.Now())),
            new("peer", (engine.SystemPeer?.Id ?? 0).ToString(CultureInfo.InvariantCulture)),
            new("tc", d.PollExponent.ToString(CultureInfo.InvariantCulture)),
            new("mintc", NtpConstants.MinPoll.ToString(CultureInfo.InvariantCulture)),
            new("offset", Milliseconds(engine.SystemOffset, 6)),
            new("frequency", (d.Frequency * 1e6).ToString("0.000000", CultureInfo.InvariantCulture)),
            new("sys_jitter", Milliseconds(engine.SystemJitter, 6)),
            new("clk_jitter", Milliseconds(d.Jitter, 6)),
            new("clk_wander", (d.Wander * 1e6).ToString("0.000000", CultureInfo.InvariantCulture)),
        ];
    }

    /// <summary>ntpd's system statistics (<c>ss_*</c>), from the packet counters.</summary>
    private List<KeyValuePair<string, string>> StatisticsVariables(double now)
    {
        PacketCounters c = engine.Responder.Counters;
        string N(long value) => value.ToString(CultureInfo.InvariantCulture);
        long uptime = double.IsNaN(engine.StartTime) ? 0 : (long)Math.Max(0, now - engine.StartTime);
        return
        [
            new("ss_uptime", N(uptime)),
            new("ss_reset", N(uptime)),
            new("ss_received", N(c.Received + c.ControlQueries)),
            new("ss_thisver", N(c.CurrentVersion)),
            new("ss_oldver", N(c.OlderVersion)),
            new("ss_badformat", N(c.Dropped(DropReason.BadLength) + c.Dropped(DropReason.BadVersion))),
            new("ss_badauth", "0"),
            new("ss_declined", N(c.Dropped(DropReason.Declined) + c.Dropped(DropReason.Mode7))),
            new("ss_restricted", N(c.Dropped(DropReason.Restricted))),
            new("ss_limited", N(c.Dropped(DropReason.Busy))),
            new("ss_kodsent", "0"),
            new("ss_processed", N(c.Answered)),
        ];
    }

    private List<KeyValuePair<string, string>> PeerVariables(Association a, double now)
    {
        IReadOnlyList<ClockFilter.Stage> stages = a.Filter.StagesInArrivalOrder;
        string Stages(Func<ClockFilter.Stage, double> pick) =>
            string.Join(' ', stages.Select(st => st.IsEmpty ? "0.00" : (pick(st) * 1e3).ToString("0.00", CultureInfo.InvariantCulture)));

        int hmode = a.Mode switch { AssociationMode.SymmetricActive => 1, AssociationMode.SymmetricPassive => 2, _ => 3 };
        int pmode = a.Mode switch { AssociationMode.SymmetricActive => 2, AssociationMode.SymmetricPassive => 1, _ => 4 };
        double dispersion = a.Filter.Count == 0 ? NtpConstants.MaxDispersion : a.Filter.Dispersion + NtpConstants.Phi * Math.Max(0, now - a.UpdateTime);
        return
        [
            new("srcadr", a.Address.Address.ToString()),
            new("srcport", a.Address.Port.ToString(CultureInfo.InvariantCulture)),
            new("dstadr", a.LocalAddress?.ToString() ?? (a.IsRefclock ? "127.0.0.1" : "0.0.0.0")),
            new("dstport", "123"),
            new("leap", ((int)a.Leap).ToString(CultureInfo.InvariantCulture)),
            new("hmode", hmode.ToString(CultureInfo.InvariantCulture)),
            new("stratum", a.Stratum.ToString(CultureInfo.InvariantCulture)),
            new("ppoll", a.PeerPoll.ToString(CultureInfo.InvariantCulture)),
            new("hpoll", a.HostPoll.ToString(CultureInfo.InvariantCulture)),
            new("precision", a.Precision.ToString(CultureInfo.InvariantCulture)),
            new("rootdelay", Milliseconds(a.RootDelay, 3)),
            new("rootdisp", Milliseconds(a.RootDispersion, 3)),
            new("refid", a.IsRefclock || a.Stratum <= 1 || a.Stratum >= NtpHeader.UnsynchronizedStratum ? a.ReferenceId.ToAscii() : a.ReferenceId.ToDottedQuad()),
            new("reftime", Hex(a.ReferenceTime)),
            new("rec", Hex(a.LastReceivedAt)),
            new("reach", "0x" + a.Reach.ToString("x", CultureInfo.InvariantCulture)),
            new("unreach", a.Unreach.ToString(CultureInfo.InvariantCulture)),
            new("delay", Milliseconds(a.Filter.Count == 0 ? 0 : a.Filter.Delay, 6)),
            new("offset", Milliseconds(a.Filter.Count == 0 ? 0 : a.Filter.Offset, 6)),
            new("jitter", Milliseconds(a.Filter.Count == 0 ? 0 : a.Filter.Jitter, 6)),
            new("dispersion", Milliseconds(dispersion, 6)),
            new("keyid", (a.Settings.Key ?? 0).ToString(CultureInfo.InvariantCulture)),
            new("filtdelay", Stages(st => st.Delay)),
            new("filtoffset", Stages(st => st.Offset)),
            new("filtdisp", Stages(st => st.Dispersion)),
            new("pmode", pmode.ToString(CultureInfo.InvariantCulture)),
            new("flash", "0x0"),
            new("headway", "0"),
        ];
    }

    private static string Quote(string text) => "\"" + text.Replace("\"", "'", StringComparison.Ordinal) + "\"";

    private static string Milliseconds(double seconds, int decimals) =>
        (seconds * 1e3).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>NTP timestamps as ntpd sends them: <c>0xe5b8c3a1.7c6f2b1a</c>.</summary>
    public static string Hex(NtpTimestamp t) =>
        string.Create(CultureInfo.InvariantCulture, $"0x{(uint)(t.Value >> 32):x8}.{(uint)t.Value:x8}");
}
