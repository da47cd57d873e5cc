using System.Buffers.Binary;
using System.Security.Cryptography;
using Meridian.Engine.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Engine;

/// <summary>The NTS side of the fast path: RFC 8915 §5.7's server behaviour for requests that carry an NTS Cookie.</summary>
public sealed partial class ServerResponder
{
    /// <summary>The longest C2S or S2C key of a supported AEAD (AES-SIV-CMAC-256).</summary>
    private const int MaxSessionKeyLength = 32;

    /// <summary>RFC 8915 §5.6: the nonce and its additional padding together are at least 16 octets.</summary>
    private const int MinNoncePadded = 16;

    /// <summary>
    /// Each receive thread's session AEADs, one per algorithm, rekeyed with each request's C2S and then S2C key:
    /// the keys change per request (they come from its cookie), so the schedule is rebuilt into these buffers
    /// rather than into new objects, and the NTS path allocates nothing.
    /// </summary>
    [ThreadStatic]
    private static SessionAeads? t_session;

    private ServerCookieKeys? _cookieKeys;
    private NtsReplayFilter? _replay;

    /// <summary>
    /// The cookie master keys that make this server an NTS server (RFC 8915 §6); null answers NTS requests as plain
    /// NTP, their extension fields ignored (RFC 7822). The daemon sets it when NTS-KE is configured, the same set the
    /// NTS-KE listener seals its cookies with, and may set it later (the set rotates by itself).
    /// </summary>
    public ServerCookieKeys? NtsCookieKeys
    {
        get => Volatile.Read(ref _cookieKeys);
        set => Volatile.Write(ref _cookieKeys, value);
    }

    /// <summary>What NTS did, both halves (the engine counts its client associations' here too), for mode 6.</summary>
    public NtsCounters NtsCounters { get; } = new();

    /// <summary>Where reply nonces come from: they must not repeat or be guessable (RFC 8915 §5.6), so never seeded outside tests.</summary>
    public IRandomSource Random { get; init; } = CryptoRandomSource.Instance;

    /// <summary>The remembered Unique Identifiers (made on the first NTS request: 1 MiB a plain server never needs).</summary>
    private NtsReplayFilter ReplayFilter
    {
        get
        {
            NtsReplayFilter? filter = Volatile.Read(ref _replay);
            if (filter is null)
            {
                Interlocked.CompareExchange(ref _replay, new NtsReplayFilter(Random), null);
                filter = Volatile.Read(ref _replay)!;
            }

            return filter;
        }
    }

    private enum NtsVerdict
    {
        Authentic,
        Malformed,
        BadCookie,
        BadAuth,
        Replay,
    }

    /// <summary>What an authentic request left for the reply: the AEAD, the key length, and how many cookies were asked for.</summary>
    private readonly record struct NtsSession(ushort AeadId, int KeyLength, int CookiesWanted);

    /// <summary>A request is NTS when it carries an NTS Cookie field (RFC 8915 §5.7) and no MAC trailer.</summary>
    private static bool IsNtsRequest(NtpPacket packet)
    {
        if (packet.Mac.Length != 0 || packet.ExtensionFields.IsEmpty)
        {
            return false;
        }

        foreach (ExtensionField field in packet.EnumerateExtensionFields())
        {
            if (field.Type == NtsFieldType.Cookie)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// RFC 8915 §5.7: recover the AEAD and keys from the cookie, then authenticate the request (and decrypt its
    /// encrypted fields, whose contents this server does not use) with the C2S key. The keys go to
    /// <paramref name="keys"/> (C2S then S2C); fields after the authenticator are unauthenticated and ignored.
    /// </summary>
    private NtsVerdict CheckNts(ServerCookieKeys cookieKeys, ReadOnlySpan<byte> request, Span<byte> keys, out NtsSession session)
    {
        session = default;
        if (NtsFields.TryRead(request, out NtsFields fields) != NtsFieldStatus.Ok
            || fields.UniqueIdentifier.IsEmpty || !fields.HasAuthenticator || !fields.PlaceholdersMatchCookie
            || fields.Ciphertext.Length > MaxReplyLength)
        {
            return NtsVerdict.Malformed;
        }

        Span<byte> c2s = keys[..MaxSessionKeyLength], s2c = keys[MaxSessionKeyLength..];
        ReadOnlySpan<byte> cookie = UnpaddedCookie(fields.Cookie);
        CookieStatus opened = cookieKeys.Open(cookie, out ushort aeadId, c2s, s2c, out int keyLength);
        if (opened != CookieStatus.Opened)
        {
            if (opened == CookieStatus.UnknownKey)
            {
                NtsCounters.CountDecoded(NtsCounters.Ages - 1);
            }
            else
            {
                NtsCounters.CountDecodeError();
            }

            return NtsVerdict.BadCookie;
        }

        int age = cookieKeys.KeyAge(cookie);
        NtsCounters.CountDecoded(age < 0 ? NtsCounters.Ages - 1 : age);

        SessionAeads aeads = t_session ??= new SessionAeads();
        INtsAead? aead = aeads.Keyed(aeadId, c2s[..keyLength]);
        Span<byte> plaintext = stackalloc byte[MaxReplyLength];
        bool authentic = aead is not null && fields.Ciphertext.Length >= aead.Overhead
            && aead.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, plaintext, out _);
        aeads.Forget();
        CryptographicOperations.ZeroMemory(plaintext);
        if (!authentic)
        {
            CryptographicOperations.ZeroMemory(keys);
            return NtsVerdict.BadAuth;
        }

        // Remembered only once authentic, so strangers cannot fill the table with made-up identifiers.
        if (!ReplayFilter.TryAdd(fields.UniqueIdentifier))
        {
            CryptographicOperations.ZeroMemory(keys);
            return NtsVerdict.Replay;
        }

        session = new NtsSession(aeadId, keyLength, 1 + fields.PlaceholderCount);
        NtsCounters.CountServerGood();
        return NtsVerdict.Authentic;
    }

    /// <summary>
    /// The cookie without the zero padding its field may carry (RFC 7822 §3). Ours are 104 or 72 octets, a multiple of
    /// four, so they carry none; a body of a cookie length padded up is cut back to it, anything else fails to open.
    /// </summary>
    private static ReadOnlySpan<byte> UnpaddedCookie(ReadOnlySpan<byte> body)
    {
        // Indexed, not foreach: the list is an interface, whose enumerator would be allocated per request.
        IReadOnlyList<ushort> supported = NtsAead.Supported;
        for (int i = 0; i < supported.Count; i++)
        {
            int length = ServerCookieKeys.CookieLength(supported[i])!.Value;
            if (body.Length == Pad4(length))
            {
                return body[..length];
            }
        }

        return body;
    }

    /// <summary>
    /// A request the NTS checks refused. Malformed and replayed ones are dropped. A cookie that does not open or a
    /// request that does not authenticate gets an NTS NAK (RFC 8915 §5.7: "SHOULD respond with a Kiss-o'-Death packet
    /// with kiss code NTSN"): no time, no cookie or authenticator, and the request's Unique Identifier so the client
    /// can match it. (A <c>limited</c> address over its rate never gets here: the access list refuses it first.)
    /// </summary>
    private int RefuseNts(NtsVerdict verdict, in NtpHeader header, byte version, ReadOnlySpan<byte> request, Span<byte> reply, out bool kissed)
    {
        kissed = false;
        DropReason reason = verdict switch
        {
            NtsVerdict.BadCookie => DropReason.NtsBadCookie,
            NtsVerdict.BadAuth => DropReason.NtsBadAuth,
            NtsVerdict.Replay => DropReason.NtsReplay,
            _ => DropReason.NtsMalformed,
        };
        Counters.CountDropped(reason);
        NtsCounters.CountServerBad();
        if (verdict is not (NtsVerdict.BadCookie or NtsVerdict.BadAuth))
        {
            return 0;
        }

        // CheckNts read the fields once already; a Unique Identifier is there, or the verdict would be Malformed.
        NtsFields.TryRead(request, out NtsFields fields);
        if (NtpHeader.Size + 4 + fields.UniqueIdentifier.Length > reply.Length)
        {
            return 0;
        }

        int length = WriteKiss(header, version, NtsNak.Code, KissPoll, reply);
        length += NtsFieldWriter.WriteUniqueIdentifier(reply[length..], fields.UniqueIdentifier);
        Counters.CountKiss();
        NtsCounters.CountNak();
        NtsCounters.CountServerSent();
        kissed = true;
        return length;
    }

    /// <summary>
    /// RFC 8915 §5.7's reply: the header, the Unique Identifier echoed, then one NTS Authenticator and Encrypted
    /// Extension Fields field sealed with the S2C key over everything before it, holding a fresh cookie for each
    /// one the request used or asked for. The reply is never longer than the request (nor the buffer), so when all
    /// the cookies do not fit, fewer go back. T3 is read just before sealing, as the authenticator covers it.
    /// </summary>
    private int WriteNtsReply(ServerCookieKeys cookieKeys, ReadOnlySpan<byte> request, Span<byte> reply, SystemState state, NtpDuration smearDuration,
        ref NtpHeader response, NtsSession session, Span<byte> keys)
    {
        NtsFields.TryRead(request, out NtsFields fields);
        ReadOnlySpan<byte> s2c = keys.Slice(MaxSessionKeyLength, session.KeyLength);
        SessionAeads aeads = t_session ??= new SessionAeads();
        try
        {
            return SealNtsReply(cookieKeys, aeads.Keyed(session.AeadId, s2c)!, fields, request, reply, state, smearDuration, ref response, session, keys);
        }
        finally
        {
            aeads.Forget();
        }
    }

    /// <summary>The reply itself, with this thread's S2C AEAD (zeroed by the caller however this ends).</summary>
    private int SealNtsReply(ServerCookieKeys cookieKeys, INtsAead aead, in NtsFields fields, ReadOnlySpan<byte> request, Span<byte> reply, SystemState state,
        NtpDuration smearDuration, ref NtpHeader response, NtsSession session, Span<byte> keys)
    {
        ReadOnlySpan<byte> c2s = keys[..session.KeyLength], s2c = keys.Slice(MaxSessionKeyLength, session.KeyLength);
        int nonceLength = aead.NonceLength;
        int padding = Math.Max(0, MinNoncePadded - Pad4(nonceLength));

        int cookieLength = ServerCookieKeys.CookieLength(session.AeadId)!.Value;
        int cookieField = NtsFieldWriter.FieldLength(cookieLength);
        int uidField = 4 + fields.UniqueIdentifier.Length;
        int room = Math.Min(Math.Min(request.Length, reply.Length), MaxReplyLength);
        int fixedPart = NtpHeader.Size + uidField + NtsFieldWriter.AuthenticatorLength(nonceLength, aead.Overhead, padding);
        if (fixedPart > room)
        {
            CryptographicOperations.ZeroMemory(keys);
            Counters.CountDropped(DropReason.BadLength);
            return 0;
        }

        // Each cookie adds its field to the plaintext and so to the ciphertext; both lengths stay multiples of four.
        int cookies = Math.Min(session.CookiesWanted, (room - fixedPart) / cookieField);
        Span<byte> plaintext = stackalloc byte[MaxReplyLength];
        plaintext = plaintext[..(cookies * cookieField)];
        Span<byte> cookie = stackalloc byte[cookieLength];
        for (int i = 0; i < cookies; i++)
        {
            cookieKeys.Seal(session.AeadId, c2s, s2c, cookie);
            NtsFieldWriter.WriteCookie(plaintext[(i * cookieField)..], cookie);
        }

        CryptographicOperations.ZeroMemory(keys);
        int position = NtpHeader.Size;
        position += NtsFieldWriter.WriteUniqueIdentifier(reply[position..], fields.UniqueIdentifier);

        Span<byte> nonce = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, Random.NextUInt64());
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[8..], Random.NextUInt64());
        nonce = nonce[..nonceLength];

        NtpTimestamp transmit = _clock.Now() - smearDuration;
        response.RootDispersion = NtpShort.FromSeconds(RootDispersionAt(state, transmit));
        response.TransmitTimestamp = transmit;
        response.Write(reply);
        int authenticator = NtsFieldWriter.WriteAuthenticator(reply[position..], nonce, plaintext.Length + aead.Overhead, out Span<byte> ciphertext, padding);
        aead.Seal(nonce, reply[..position], plaintext, ciphertext);
        CryptographicOperations.ZeroMemory(plaintext);
        Counters.CountAnswered();
        NtsCounters.CountServerSent();
        NtsCounters.CountCookiesMade(cookies);
        return position + authenticator;
    }

    private static int Pad4(int length) => (length + 3) & ~3;

    /// <summary>One thread's AEAD of each supported algorithm, made on first use and rekeyed per request after that.</summary>
    private sealed class SessionAeads
    {
        private AesSivCmac256? _siv;
        private AesGcmSiv128? _gcmSiv;

        /// <summary>This thread's instance for <paramref name="aeadId"/> under <paramref name="key"/>, or null for an unknown id.</summary>
        public INtsAead? Keyed(ushort aeadId, ReadOnlySpan<byte> key)
        {
            // Made under a zero key the first time, then always rekeyed: the one construction per thread is the only allocation.
            switch (aeadId)
            {
                case NtsAeadId.AesSivCmac256:
                    (_siv ??= new AesSivCmac256(stackalloc byte[AesSivCmac256.KeySize])).Rekey(key);
                    return _siv;
                case NtsAeadId.AesGcmSiv128:
                    (_gcmSiv ??= new AesGcmSiv128(stackalloc byte[AesGcmSiv128.KeySize])).Rekey(key);
                    return _gcmSiv;
                default:
                    return null;
            }
        }

        /// <summary>Zeroes the session key schedules once a request is done with them.</summary>
        public void Forget()
        {
            _siv?.Forget();
            _gcmSiv?.Forget();
        }
    }
}
