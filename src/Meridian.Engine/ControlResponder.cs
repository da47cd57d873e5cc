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
public sealed class ControlResponder(NtpEngine engine, IClock clock, HostDescription host, Random random, AuthKey? controlKey = null, Func<string, string>? configure = null)
{
    /// <summary>The key that authenticates writes and <c>:config</c>; the host replaces it when the keys file is read again.</summary>
    public AuthKey? Key { get; set; } = controlKey;

    /// <summary>How long a nonce from REQ_NONCE stays good for READ_MRU, seconds (ntpd: 16).</summary>
    public const double NonceLifetime = 16;

    private const int MaxNonces = 64;

    /// <summary>Issued nonces with who asked and when: a READ_MRU must echo one, so a spoofed source gets nothing.</summary>
    private readonly Queue<(string Nonce, System.Net.IPAddress Client, double Time)> _nonces = new();

    /// <summary><c>setvar</c> variables, in configuration order; WRITEVAR changes their values.</summary>
    private readonly List<UserVariable> _userVariables = [.. engine.Settings.UserVariables];

    /// <summary>Adds a <c>setvar</c> variable, or replaces the one of that name (run-time configuration).</summary>
    public void SetUserVariable(UserVariable variable)
    {
        int index = _userVariables.FindIndex(v => v.Name == variable.Name);
        if (index < 0)
        {
            _userVariables.Add(variable);
        }
        else
        {
            _userVariables[index] = variable;
        }
    }

    /// <summary>Answers one request; returns the response datagrams (none for anything that is not a request).</summary>
    public List<byte[]> Respond(ReadOnlySpan<byte> request, double now, System.Net.IPEndPoint? from = null, bool mayModify = true)
    {
        if (!ControlHeader.TryRead(request, out ControlHeader header, out ReadOnlySpan<byte> data, out _) || header.IsResponse || header.IsError || header.More)
        {
            return [];
        }

        var reply = header with { IsResponse = true, IsError = false, More = false, Offset = 0, Count = 0, Version = Math.Clamp(header.Version, (byte)1, (byte)4) };
        AuthKey? key = Key;
        // nomodify: writes and :config are refused however they are signed.
        bool authenticated = mayModify && Authenticated(key, request, header.Count);
        List<byte[]> response = Answer(header, reply, data, now, from, authenticated);
        return authenticated ? response.ConvertAll(f => Sign(key!, f)) : response;
    }

    /// <summary>
    /// A request is authenticated when it ends in the control key's ID and a MAC of everything before them (ntpq pads
    /// the request to a multiple of 8 octets first).
    /// </summary>
    private bool Authenticated(AuthKey? key, ReadOnlySpan<byte> request, int count)
    {
        if (key is null)
        {
            return false;
        }

        int macLength = 4 + Mac.DigestLength(key.Algorithm);
        int signed = request.Length - macLength;
        if (signed < ControlHeader.Size + count || signed % 4 != 0)
        {
            return false;
        }

        uint keyId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(request[signed..]);
        engine.Auth.CountLookup(keyId == key.Id);
        if (keyId != key.Id)
        {
            return false;
        }

        bool good = Mac.Verify(key.Algorithm, key.Secret, request[..signed], request[(signed + 4)..]);
        engine.Auth.CountDecrypt(key.Algorithm, good);
        return good;
    }

    /// <summary>Responses to authenticated requests carry a MAC too, over the fragment padded to 8 octets.</summary>
    private byte[] Sign(AuthKey key, byte[] fragment)
    {
        var padded = new byte[(fragment.Length + 7) & ~7];
        fragment.CopyTo(padded, 0);
        engine.Auth.CountEncrypt(key.Algorithm);
        return Mac.Append(key.Algorithm, key.Id, key.Secret, padded);
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
                return ReadClock(reply, header.AssociationId, data, now);
            case ControlOpcode.RequestNonce:
                return RequestNonce(reply, now, from);
            case ControlOpcode.ReadMru:
                return ReadMru(reply, data, now, from);
            case ControlOpcode.Configure when authenticated && configure is not null:
                string answer = configure(Encoding.ASCII.GetString(data).TrimEnd('\0'));
                return (reply with { Status = SystemStatus() }).Fragments(Encoding.ASCII.GetBytes(answer));
            case ControlOpcode.WriteVariables when authenticated:
                return WriteVariables(reply, header.AssociationId, data, now);
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
            authEnabled: a.Settings.Key is not null,
            authentic: a.Authentic,
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
        if (associationId == 0)
        {
            // Counters are answered when named (ntpq's sysstats, iostats, kerninfo, authinfo, monstats), as in ntpd.
            return Variables(reply with { Status = SystemStatus() }, SystemVariables(), () => SystemCounters(now), request);
        }

        if (engine.Associations.FirstOrDefault(a => a.Id == associationId) is not { } association)
        {
            return Error(reply, ControlError.UnknownAssociation);
        }

        return Variables(reply with { Status = PeerStatus(association) }, PeerVariables(association, now), () => PeerCounters(association, now), request);
    }

    /// <summary>
    /// READCLOCK: a reference clock's driver variables. Association 0 means the system peer when it is a reference
    /// clock, else the first reference clock (as ntpd).
    /// </summary>
    private List<byte[]> ReadClock(ControlHeader reply, ushort associationId, ReadOnlySpan<byte> request, double now)
    {
        Association? clock = associationId == 0
            ? engine.SystemPeer is { IsRefclock: true } peer ? peer : engine.Associations.FirstOrDefault(a => a.IsRefclock)
            : engine.Associations.FirstOrDefault(a => a.Id == associationId);
        if (clock is not { IsRefclock: true })
        {
            return Error(reply, ControlError.UnknownAssociation);
        }

        return Variables(reply with { Status = ControlStatus.Clock(0, 0) }, ClockVariables(clock), () => [], request);
    }

    /// <summary>
    /// The variables a request names (or the default list when it names none); a name in neither the default list
    /// nor the named-only counters is an UNKNOWNVAR error.
    /// </summary>
    private static List<byte[]> Variables(ControlHeader reply, List<KeyValuePair<string, string>> defaults, Func<List<KeyValuePair<string, string>>> namedOnly, ReadOnlySpan<byte> request)
    {
        List<KeyValuePair<string, string?>> wanted = ControlVariables.Parse(request);
        IEnumerable<KeyValuePair<string, string>> chosen = defaults;
        if (wanted.Count > 0)
        {
            var byName = new Dictionary<string, KeyValuePair<string, string>>(StringComparer.Ordinal);
            foreach (KeyValuePair<string, string> v in defaults.Concat(namedOnly()))
            {
                byName.TryAdd(v.Key, v);
            }

            if (wanted.Any(w => !byName.ContainsKey(w.Key)))
            {
                return Error(reply, ControlError.UnknownVariable);
            }

            chosen = wanted.Select(w => byName[w.Key]);
        }

        return reply.Fragments(Encoding.ASCII.GetBytes(ControlVariables.Format(chosen)));
    }

    /// <summary>
    /// WRITEVAR (authenticated): only <c>setvar</c> variables can be written, as in ntpd; a known read-only variable
    /// is a PERMISSION error, an unknown one UNKNOWNVAR, and nothing is changed unless every name is writable.
    /// </summary>
    private List<byte[]> WriteVariables(ControlHeader reply, ushort associationId, ReadOnlySpan<byte> request, double now)
    {
        if (associationId != 0)
        {
            return Error(reply, ControlError.PermissionDenied);
        }

        List<KeyValuePair<string, string?>> writes = ControlVariables.Parse(request);
        HashSet<string> known = SystemVariables().Concat(SystemCounters(now)).Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
        foreach ((string name, string? value) in writes)
        {
            if (_userVariables.FindIndex(v => v.Name == name) < 0)
            {
                return Error(reply, known.Contains(name) ? ControlError.PermissionDenied : ControlError.UnknownVariable);
            }

            if (value is null)
            {
                return Error(reply, ControlError.BadFormat);
            }
        }

        foreach ((string name, string? value) in writes)
        {
            int index = _userVariables.FindIndex(v => v.Name == name);
            _userVariables[index] = _userVariables[index] with { Value = value! };
        }

        return (reply with { Status = SystemStatus() }).Fragments([]);
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
        // A name given twice counts once (the last), as ntpd reads them.
        var parameters = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach ((string name, string? value) in ControlVariables.Parse(request))
        {
            parameters[name] = value;
        }

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
            // The address's restrict flags; limited and kod only while it is over its limit (ntpq's L and K).
            AccessFlags flags = engine.Access.Lookup(e.Key);
            if (!e.Limited)
            {
                flags &= ~(AccessFlags.Limited | AccessFlags.Kod);
            }

            string item = string.Create(CultureInfo.InvariantCulture,
                $", addr.{i}={address}, last.{i}={Hex(e.Last)}, first.{i}={Hex(e.First)}, ct.{i}={e.Count}, mv.{i}={e.ModeVersion}, rs.{i}=0x{(int)flags:x}");
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
            .. _userVariables.Where(v => v.Default).Select(v => new KeyValuePair<string, string>(v.Name, v.Value)),
        ];
    }

    /// <summary>
    /// Variables answered only when named: ntpd's system statistics (<c>ss_*</c>), the socket counters
    /// (<c>iostats</c>), the kernel loop (<c>kerninfo</c>), key and MAC counters (<c>authinfo</c>), the MRU list
    /// (<c>monstats</c>), and <c>setvar</c> variables not marked default.
    /// </summary>
    private List<KeyValuePair<string, string>> SystemCounters(double now)
    {
        PacketCounters c = engine.Responder.Counters;
        IoCounters io = engine.Io;
        AuthCounters auth = engine.Auth;
        MruList mru = engine.Mru;
        long uptime = double.IsNaN(engine.StartTime) ? 0 : (long)Math.Max(0, now - engine.StartTime);
        var list = new List<KeyValuePair<string, string>>
        {
            new("ss_uptime", N(uptime)),
            new("ss_reset", N(uptime)),
            new("ss_received", N(c.Received + c.ControlQueries)),
            new("ss_thisver", N(c.CurrentVersion)),
            new("ss_oldver", N(c.OlderVersion)),
            new("ss_ver1", N(c.Version1)),
            new("ss_ver1client", N(c.Version1Client)),
            new("ss_ver1zero", N(c.Version1Zero)),
            new("ss_ver1symm", N(c.Version1Symmetric)),
            new("ss_badformat", N(c.Dropped(DropReason.BadLength) + c.Dropped(DropReason.BadVersion))),
            new("ss_badauth", N(c.Dropped(DropReason.BadAuth))),
            new("ss_declined", N(c.Dropped(DropReason.Declined) + c.Dropped(DropReason.Mode7))),
            new("ss_restricted", N(c.Dropped(DropReason.Restricted))),
            new("ss_limited", N(c.Dropped(DropReason.Limited))),
            new("ss_kodsent", N(c.Kisses)),
            new("ss_badversion", N(c.Dropped(DropReason.BadVersion))),
            new("ss_badlength", N(c.Dropped(DropReason.BadLength))),
            new("ss_mode7", N(c.Dropped(DropReason.Mode7))),
            new("ss_busy", N(c.Dropped(DropReason.Busy))),
            new("ss_processed", N(c.Answered)),
            new("ss_numctlreq", N(c.ControlQueries)),
            new("bcastdelay", Milliseconds(engine.Settings.BroadcastDelay, 3)),
            new("authdelay", "0.000"),
            new("watchdog", N(double.IsNaN(engine.SinceClockUpdate(now)) ? 0 : (long)engine.SinceClockUpdate(now))),
            new("iostats_reset", N(uptime)),
            new("total_rbuf", N(io.QueueCapacity)),
            new("free_rbuf", N(io.QueueCapacity - io.Queued)),
            new("used_rbuf", N(io.Queued)),
            new("rbuf_lowater", "0"),
            new("io_dropped", N(io.Dropped)),
            new("io_ignored", N(io.Ignored)),
            new("io_received", N(io.Received)),
            new("io_sent", N(io.Sent)),
            new("io_sendfailed", N(io.SendFailed)),
            new("io_wakeups", N(io.Wakeups)),
            new("io_goodwakeups", N(io.GoodWakeups)),
            new("authreset", N(uptime)),
            new("authkeys", N(auth.StoredKeys)),
            new("authfreek", "0"),
            new("authklookups", N(auth.Lookups)),
            new("authknotfound", N(auth.NotFound)),
            new("authkuncached", "0"),
            new("authkexpired", "0"),
            new("authencrypts", N(auth.DigestEncrypts + auth.CmacEncrypts)),
            new("authdigestencrypts", N(auth.DigestEncrypts)),
            new("authcmacencrypts", N(auth.CmacEncrypts)),
            new("authdecrypts", N(auth.DigestDecrypts + auth.CmacDecrypts)),
            new("authdigestdecrypts", N(auth.DigestDecrypts)),
            new("authdigestfails", N(auth.DigestFails)),
            new("authcmacdecrypts", N(auth.CmacDecrypts)),
            new("authcmacfails", N(auth.CmacFails)),
            new("mru_enabled", engine.Monitor ? "0x1" : "0x0"),
            new("mru_hashslots", N(mru.Count)),
            new("mru_depth", N(mru.Count)),
            new("mru_deepest", N(mru.Deepest)),
            new("mru_maxdepth", N(mru.Capacity)),
            new("mru_mindepth", N(mru.Settings.MinDepth)),
            new("mru_maxage", N((long)mru.Settings.MaxAge)),
            new("mru_minage", "0"),
            new("mru_mem", N(((long)mru.Count * MruList.EntrySize + 1023) / 1024)),
            new("mru_maxmem", N(((long)mru.Capacity * MruList.EntrySize + 1023) / 1024)),
            new("mru_exists", N(mru.Exists)),
            new("mru_new", N(mru.New)),
            new("mru_recycleold", N(mru.RecycledOld)),
            new("mru_recyclefull", N(mru.RecycledFull)),
            new("mru_none", "0"),
            new("mru_oldest_age", N(mru.Oldest is NtpTimestamp oldest ? (long)Math.Max(0, (clock.Now() - oldest).ToSeconds()) : 0)),
        };

        // NTPsec's ntpq also asks for each ss_ counter since the last reset (_r); nothing resets them here.
        list.AddRange(list.Where(v => v.Key.StartsWith("ss_", StringComparison.Ordinal)).ToList().Select(v => new KeyValuePair<string, string>(v.Key + "_r", v.Value)));

        if (engine.Settings.ReadKernel?.Invoke() is KernelLoop k)
        {
            list.AddRange(
            [
                new("koffset", Milliseconds(k.Offset, 3)),
                new("kfreq", F(k.FrequencyPpm, 3)),
                new("kmaxerr", Milliseconds(k.MaxError, 3)),
                new("kesterr", Milliseconds(k.EstimatedError, 3)),
                new("kstflags", KernelFlags(k.Status)),
                new("ktimeconst", N(k.TimeConstant)),
                new("kprecis", Milliseconds(k.Precision, 6)),
                new("kfreqtol", F(k.TolerancePpm, 0)),
                new("kppsfreq", F(k.PpsFrequencyPpm, 3)),
                new("kppsstab", F(k.PpsStability, 3)),
                new("kppsjitter", Milliseconds(k.PpsJitter, 3)),
                new("kppscalibdur", N(1L << k.PpsShift)),
                new("kppscalibs", N(k.PpsCalibrations)),
                new("kppsjitexc", N(k.PpsJitterExceeded)),
                new("kppsstbexc", N(k.PpsStabilityExceeded)),
                new("kppscaliberrs", N(k.PpsCalibrationErrors)),
            ]);
        }

        if (engine.Settings.SystemFlags?.Invoke() is string flags)
        {
            list.Add(new("sys_flags", Quote(flags)));
        }

        list.AddRange(_userVariables.Where(v => !v.Default).Select(v => new KeyValuePair<string, string>(v.Name, v.Value)));
        return list;
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

    /// <summary>Peer statistics answered only when named (ntpq's <c>pstats</c>).</summary>
    private static List<KeyValuePair<string, string>> PeerCounters(Association a, double now) =>
    [
        new("timerec", N(double.IsNaN(a.LastReceived) ? 0 : (long)Math.Max(0, now - a.LastReceived))),
        new("timer", N((long)Math.Max(0, Math.Ceiling(a.NextPoll - now)))),
        new("timereach", N(double.IsNaN(a.ReachChanged) ? 0 : (long)Math.Max(0, now - a.ReachChanged))),
        new("sent", N(a.Sent)),
        new("received", N(a.Received)),
        new("badauth", N(a.BadAuth)),
        new("bogusorg", N(a.BogusOrigin)),
        new("oldpkt", N(a.Duplicates)),
        new("seldisp", "0"),
        new("selbroken", "0"),
        new("candidate", N(a.Tally is TallyCode.SystemPeer or TallyCode.Candidate or TallyCode.Backup ? 1 : 0)),
        new("ntscookies", "0"),
    ];

    /// <summary>A reference clock's variables in ntpd's order; fudge times only when configured.</summary>
    private static List<KeyValuePair<string, string>> ClockVariables(Association a)
    {
        AssociationSettings s = a.Settings;
        var list = new List<KeyValuePair<string, string>>
        {
            new("device", Quote(a.IsLocalClock ? "Undisciplined local clock" : $"Reference clock type {s.RefclockType}")),
            new("timecode", "\"\""),
            new("poll", N(a.Sent)),
            new("noreply", "0"),
            new("badformat", "0"),
            new("baddata", "0"),
        };
        if (s.RefclockTime1 is double time1)
        {
            list.Add(new("fudgetime1", Milliseconds(time1, 3)));
        }

        if (s.RefclockTime2 is double time2)
        {
            list.Add(new("fudgetime2", Milliseconds(time2, 3)));
        }

        list.Add(new("stratum", N(s.RefclockStratum)));
        list.Add(new("refid", s.RefclockId.ToAscii()));
        list.Add(new("flags", N(s.RefclockFlags)));
        return list;
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string F(double value, int decimals) =>
        value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

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
            new("version", N(a.Settings.Version)),
            new("hmode", hmode.ToString(CultureInfo.InvariantCulture)),
            new("stratum", a.Stratum.ToString(CultureInfo.InvariantCulture)),
            new("ppoll", a.PeerPoll.ToString(CultureInfo.InvariantCulture)),
            new("hpoll", a.HostPoll.ToString(CultureInfo.InvariantCulture)),
            new("precision", a.Precision.ToString(CultureInfo.InvariantCulture)),
            new("rootdelay", Milliseconds(a.RootDelay, 3)),
            new("rootdisp", Milliseconds(a.RootDispersion, 3)),
            new("refid", a.Kissed && a.LastKiss is ReferenceId kiss ? kiss.ToAscii()
                : a.IsRefclock || a.Stratum <= 1 || a.Stratum >= NtpHeader.UnsynchronizedStratum ? a.ReferenceId.ToAscii() : a.ReferenceId.ToDottedQuad()),
            new("reftime", Hex(a.ReferenceTime)),
            new("rec", Hex(a.LastReceivedAt)),
            new("org", Hex(a.LastOrigin)),
            new("xmt", Hex(a.LastTransmit)),
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
