using System.Globalization;
using System.Net;
using System.Text;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>What a daemon says about itself in mode 6 (<c>version</c>, <c>processor</c>, <c>system</c>).</summary>
public sealed record HostDescription(string Version, string Processor, string System)
{
    public static HostDescription Unknown { get; } = new("ntpd Meridian", "unknown", "unknown");
}

/// <summary>An authenticated CONFIGURE request (ntpq's <c>:config</c>): the host applies the text, then the engine answers.</summary>
public sealed record ConfigurationRequest(string Text, IPEndPoint From, IPAddress? Local, ControlHeader Reply, SymmetricKey Key);

/// <summary>
/// The responder's answer to one mode 6 request. <see cref="AddressVerified"/>: the request echoed a nonce that only
/// its source address received (READ_MRU), so the answer cannot be reflected to a spoofed victim.
/// </summary>
public sealed record ControlAnswer(List<byte[]> Fragments, bool Authenticated, ConfigurationRequest? Configuration = null, bool AddressVerified = false)
{
    public static ControlAnswer None { get; } = new([], false);

    /// <summary>Octets of every fragment together: what the answer costs the network.</summary>
    public int Octets => Fragments.Sum(f => f.Length);
}

/// <summary>
/// Answers mode 6 (RFC 9327) requests from an <see cref="EngineSnapshot"/>: READSTAT (the association list with
/// status words), READVAR (system variables for association 0, peer variables otherwise; a request may name the
/// variables it wants), READCLOCK, REQ_NONCE and READ_MRU, an authenticated WRITEVAR of <c>setvar</c> variables, and
/// an authenticated CONFIGURE, which is handed to the host as a <see cref="ConfigurationRequest"/>. Responses are
/// split into fragments as ntpd does; answers to authenticated requests are signed. Traps are refused.
/// </summary>
public sealed class ControlResponder(IRandomSource random, AuthCounters auth, IEnumerable<UserVariable>? userVariables = null)
{
    /// <summary>How long a nonce from REQ_NONCE stays good for READ_MRU, seconds (ntpd: 16).</summary>
    public const double NonceLifetime = 16;

    private const int MaxNonces = 64;

    /// <summary>Issued nonces with who asked and when: a READ_MRU must echo one, so a spoofed source gets nothing.</summary>
    private readonly Queue<(string Nonce, IPAddress Client, double Time)> _nonces = new();

    /// <summary>The request being answered echoed a nonce its source was given (READ_MRU).</summary>
    private bool _nonceEchoed;

    /// <summary><c>setvar</c> variables, in configuration order; WRITEVAR changes their values.</summary>
    private readonly List<UserVariable> _userVariables = [.. userVariables ?? []];

    /// <summary>The key that authenticates writes and <c>:config</c> (<c>controlkey</c>); null refuses them all.</summary>
    public SymmetricKey? Key { get; set; }

    /// <summary>The <c>setvar</c> variables as they are now.</summary>
    public IReadOnlyList<UserVariable> UserVariables => _userVariables;

    /// <summary>Adds a <c>setvar</c> variable, or replaces the one of that name (run-time configuration).</summary>
    public void SetUserVariable(UserVariable variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
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

    /// <summary>Answers one request; no fragments for anything that is not a request.</summary>
    public ControlAnswer Respond(ReadOnlySpan<byte> request, EngineSnapshot snapshot, IPEndPoint? from = null, IPAddress? local = null, bool mayModify = true)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (!ControlHeader.TryRead(request, out ControlHeader header, out ReadOnlySpan<byte> data, out _) || header.IsResponse || header.IsError || header.More)
        {
            return ControlAnswer.None;
        }

        var reply = header with { IsResponse = true, IsError = false, More = false, Offset = 0, Count = 0, Version = Math.Clamp(header.Version, (byte)1, (byte)4) };
        SymmetricKey? key = Key;
        // nomodify: writes and :config are refused however they are signed.
        bool authenticated = mayModify && Authenticated(key, request, header.Count);
        if (header.Opcode == ControlOpcode.Configure && authenticated && from is not null)
        {
            return new ControlAnswer([], true, new ConfigurationRequest(Encoding.ASCII.GetString(data).TrimEnd('\0'), from, local, reply, key!));
        }

        _nonceEchoed = false;
        List<byte[]> fragments = Answer(header, reply, data, snapshot, from, authenticated);
        return new ControlAnswer(authenticated ? fragments.ConvertAll(f => Sign(key!, f)) : fragments, authenticated, AddressVerified: _nonceEchoed);
    }

    /// <summary>The answer to a <see cref="ConfigurationRequest"/> once the host applied it, signed with the request's key.</summary>
    public List<byte[]> AnswerConfiguration(ConfigurationRequest request, string answer, EngineSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(snapshot);
        return (request.Reply with { Status = snapshot.SystemStatus }).Fragments(Encoding.ASCII.GetBytes(answer)).ConvertAll(f => Sign(request.Key, f));
    }

    /// <summary>
    /// A request is authenticated when it ends in the control key's ID and a MAC of everything before them (ntpq pads
    /// the request to a multiple of 8 octets first).
    /// </summary>
    private bool Authenticated(SymmetricKey? key, ReadOnlySpan<byte> request, int count)
    {
        if (key is null)
        {
            return false;
        }

        int signed = request.Length - key.TrailerLength;
        if (signed < ControlHeader.Size + count || signed % 4 != 0)
        {
            return false;
        }

        uint keyId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(request[signed..]);
        auth.CountLookup(keyId == key.Id);
        if (keyId != key.Id)
        {
            return false;
        }

        bool good = key.Verify(request[..signed], request[(signed + 4)..]);
        auth.CountDecrypt(key.Algorithm, good);
        return good;
    }

    /// <summary>Responses to authenticated requests carry a MAC too, over the fragment padded to 8 octets.</summary>
    private byte[] Sign(SymmetricKey key, byte[] fragment)
    {
        var padded = new byte[(fragment.Length + 7) & ~7];
        fragment.CopyTo(padded, 0);
        auth.CountEncrypt(key.Algorithm);
        return key.Append(padded);
    }

    private List<byte[]> Answer(ControlHeader header, ControlHeader reply, ReadOnlySpan<byte> data, EngineSnapshot s, IPEndPoint? from, bool authenticated)
    {
        switch (header.Opcode)
        {
            case ControlOpcode.ReadStatus:
                return header.AssociationId == 0 ? ReadStatus(reply, s) : ReadVariables(reply, header.AssociationId, data, s);
            case ControlOpcode.ReadVariables:
                return ReadVariables(reply, header.AssociationId, data, s);
            case ControlOpcode.ReadClock:
                return ReadClock(reply, header.AssociationId, data, s);
            case ControlOpcode.RequestNonce:
                return RequestNonce(reply, s, from);
            case ControlOpcode.ReadMru:
                return ReadMru(reply, data, s, from);
            case ControlOpcode.WriteVariables when authenticated:
                return WriteVariables(reply, header.AssociationId, data, s);
            case ControlOpcode.WriteVariables or ControlOpcode.WriteClock or ControlOpcode.Configure or ControlOpcode.SaveConfig or ControlOpcode.SetTrap or ControlOpcode.UnsetTrap:
                return Error(reply, ControlError.PermissionDenied);
            default:
                return Error(reply, ControlError.BadOpcode);
        }
    }

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

    private static List<byte[]> ReadStatus(ControlHeader reply, EngineSnapshot s)
    {
        var data = new byte[s.Peers.Count * 4];
        for (int i = 0; i < s.Peers.Count; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 * i), (ushort)s.Peers[i].Id);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 * i + 2), s.Peers[i].Status);
        }

        return (reply with { Status = s.SystemStatus }).Fragments(data);
    }

    private List<byte[]> ReadVariables(ControlHeader reply, ushort associationId, ReadOnlySpan<byte> request, EngineSnapshot s)
    {
        if (associationId == 0)
        {
            return Variables(reply with { Status = s.SystemStatus }, SystemValues(s), request);
        }

        if (s.Peer(associationId) is not { } peer)
        {
            return Error(reply, ControlError.UnknownAssociation);
        }

        return Variables(reply with { Status = peer.Status }, Values(ControlVariableTable.Peer, peer), request);
    }

    /// <summary>
    /// READCLOCK: a reference clock's driver variables. Association 0 means the system peer when it is a reference
    /// clock, else the first reference clock (as ntpd).
    /// </summary>
    private static List<byte[]> ReadClock(ControlHeader reply, ushort associationId, ReadOnlySpan<byte> request, EngineSnapshot s)
    {
        PeerSnapshot? clock = associationId == 0
            ? (s.SystemPeerIsRefclock ? s.Peer(s.SystemPeerId) : null) ?? s.Peers.FirstOrDefault(p => p.IsRefclock)
            : s.Peer(associationId);
        if (clock is not { IsRefclock: true })
        {
            return Error(reply, ControlError.UnknownAssociation);
        }

        var values = Values(ControlVariableTable.Clock, clock);
        if (clock.Driver is { } driver)
        {
            values.AddRange(driver.Variables.Select(v => (v.Name, true, v.Value)));
        }

        int status = clock.Driver is { } d ? (int)d.CurrentStatus : 0;
        int last = clock.Driver is { } e ? (int)e.LastEvent : 0;
        return Variables(reply with { Status = ControlStatus.Clock(status, last) }, values, request);
    }

    /// <summary>The system variables with their values now: the table, the host description, and <c>setvar</c> variables.</summary>
    private List<(string Name, bool Default, string Value)> SystemValues(EngineSnapshot s)
    {
        var values = Values(ControlVariableTable.System, s);
        int lastDefault = values.FindLastIndex(v => v.Default) + 1;
        values.InsertRange(lastDefault, _userVariables.Where(v => v.Default).Select(v => (v.Name, true, v.Value)));
        values.AddRange(_userVariables.Where(v => !v.Default).Select(v => (v.Name, false, v.Value)));
        return values;
    }

    private static List<(string Name, bool Default, string Value)> Values<T>(IReadOnlyList<ControlVariable<T>> table, T source)
    {
        var values = new List<(string, bool, string)>(table.Count);
        foreach (ControlVariable<T> v in table)
        {
            string? value = v.Value(source);
            if (value is not null)
            {
                values.Add((v.Name, v.IsListed(source), value));
            }
        }

        return values;
    }

    /// <summary>
    /// The variables a request names (or the default list when it names none); a name that is not known is an
    /// UNKNOWNVAR error.
    /// </summary>
    private static List<byte[]> Variables(ControlHeader reply, List<(string Name, bool Default, string Value)> values, ReadOnlySpan<byte> request)
    {
        List<KeyValuePair<string, string?>> wanted = ControlVariables.Parse(request);
        IEnumerable<KeyValuePair<string, string>> chosen = values.Where(v => v.Default).Select(v => new KeyValuePair<string, string>(v.Name, v.Value));
        if (wanted.Count > 0)
        {
            var byName = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach ((string name, _, string value) in values)
            {
                byName.TryAdd(name, value);
            }

            if (wanted.Any(w => !byName.ContainsKey(w.Key)))
            {
                return Error(reply, ControlError.UnknownVariable);
            }

            chosen = wanted.Select(w => new KeyValuePair<string, string>(w.Key, byName[w.Key]));
        }

        return reply.Fragments(Encoding.ASCII.GetBytes(ControlVariables.Format(chosen)));
    }

    /// <summary>
    /// WRITEVAR (authenticated): only <c>setvar</c> variables can be written, as in ntpd; a known read-only variable
    /// is a PERMISSION error, an unknown one UNKNOWNVAR, and nothing is changed unless every name is writable.
    /// </summary>
    private List<byte[]> WriteVariables(ControlHeader reply, ushort associationId, ReadOnlySpan<byte> request, EngineSnapshot s)
    {
        if (associationId != 0)
        {
            return Error(reply, ControlError.PermissionDenied);
        }

        List<KeyValuePair<string, string?>> writes = ControlVariables.Parse(request);
        foreach ((string name, string? value) in writes)
        {
            if (_userVariables.FindIndex(v => v.Name == name) < 0)
            {
                bool known = ControlVariableTable.System.Any(v => v.Name == name);
                return Error(reply, known ? ControlError.PermissionDenied : ControlError.UnknownVariable);
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

        return (reply with { Status = s.SystemStatus }).Fragments([]);
    }

    private List<byte[]> RequestNonce(ControlHeader reply, EngineSnapshot s, IPEndPoint? from)
    {
        string nonce = Convert.ToHexStringLower(BitConverter.GetBytes(random.NextUInt64())) + Convert.ToHexStringLower(BitConverter.GetBytes((uint)random.NextUInt64()));
        _nonces.Enqueue((nonce, from?.Address ?? IPAddress.None, s.Now));
        while (_nonces.Count > MaxNonces)
        {
            _nonces.Dequeue();
        }

        return (reply with { Status = s.SystemStatus }).Fragments(Encoding.ASCII.GetBytes("nonce=" + nonce));
    }

    /// <summary>
    /// READ_MRU (ntpd's mrulist): the entries most recent first, as many as the request's <c>frags</c> or
    /// <c>limit</c> allow, each as addr/last/first/ct/mv/rs, then <c>now</c> and <c>last.newest</c>, which tell
    /// the client the list is complete.
    /// </summary>
    private List<byte[]> ReadMru(ControlHeader reply, ReadOnlySpan<byte> request, EngineSnapshot s, IPEndPoint? from)
    {
        // A name given twice counts once (the last), as ntpd reads them.
        var parameters = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach ((string name, string? value) in ControlVariables.Parse(request))
        {
            parameters[name] = value;
        }

        string? nonce = parameters.GetValueOrDefault("nonce");
        IPAddress client = from?.Address ?? IPAddress.None;
        if (nonce is null || !_nonces.Any(n => n.Nonce == nonce && n.Client.Equals(client) && s.Now - n.Time <= NonceLifetime))
        {
            return Error(reply, ControlError.BadValue);
        }

        _nonceEchoed = true;
        int frags = int.TryParse(parameters.GetValueOrDefault("frags"), NumberStyles.None, CultureInfo.InvariantCulture, out int f) ? Math.Clamp(f, 1, 32) : 8;
        int limit = int.TryParse(parameters.GetValueOrDefault("limit"), NumberStyles.None, CultureInfo.InvariantCulture, out int l) ? Math.Clamp(l, 1, 3 * 32) : int.MaxValue;
        int budget = frags * ControlHeader.MaxFragmentData - 128;
        var text = new StringBuilder("nonce=" + nonce);
        List<MruEntry> entries = s.Mru.Snapshot(limit);
        NtpTimestamp newest = entries.Count > 0 ? entries[0].Last : NtpTimestamp.Zero;
        for (int i = 0; i < entries.Count; i++)
        {
            MruEntry e = entries[i];
            IPEndPoint endPoint = e.Key.ToEndPoint();
            string address = e.Key.IPv6 ? $"[{endPoint.Address}]:{endPoint.Port}" : $"{endPoint.Address}:{endPoint.Port}";
            // The address's restrict flags; limited and kod only while it is over its limit (ntpq's L and K).
            AccessFlags flags = s.Access.Lookup(e.Key);
            if (!e.Limited)
            {
                flags &= ~(AccessFlags.Limited | AccessFlags.Kod);
            }

            string item = string.Create(CultureInfo.InvariantCulture,
                $", addr.{i}={address}, last.{i}={ControlVariableTable.Hex(e.Last)}, first.{i}={ControlVariableTable.Hex(e.First)}, ct.{i}={e.Count}, mv.{i}={e.ModeVersion}, rs.{i}=0x{(int)flags:x}");
            if (text.Length + item.Length > budget)
            {
                break;
            }

            text.Append(item);
        }

        text.Append(", now=").Append(ControlVariableTable.Hex(s.Clock)).Append(", last.newest=").Append(ControlVariableTable.Hex(newest));
        return (reply with { Status = s.SystemStatus }).Fragments(Encoding.ASCII.GetBytes(text.ToString()));
    }

    private static List<byte[]> Error(ControlHeader reply, ControlError error) =>
        (reply with { IsError = true, Status = (ushort)((int)error << 8) }).Fragments([]);

    /// <summary>NTP timestamps as ntpd sends them: <c>0xe5b8c3a1.7c6f2b1a</c>.</summary>
    public static string Hex(NtpTimestamp t) => ControlVariableTable.Hex(t);
}
