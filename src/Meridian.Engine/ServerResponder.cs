using Meridian.Engine.Nts;
using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// Answers client requests (mode 3) with server replies (mode 4) per RFC 5905 §9.2's fast transmit path, without
/// keeping per-client state and without allocating. Everything it does not answer it counts by reason. NTS requests
/// (RFC 8915 §5.7, <see cref="NtsCookieKeys"/>) are the one exception to "no allocation": each makes two AEAD key
/// schedules, about 3 KB.
/// </summary>
public sealed partial class ServerResponder
{
    private readonly IClock _clock;
    private SystemState _state;
    private LeapSmear? _smear;

    public ServerResponder(IClock clock, SystemState initialState)
    {
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _state = initialState ?? throw new ArgumentNullException(nameof(initialState));
    }

    public PacketCounters Counters { get; } = new();

    /// <summary>Trusted keys: a request with a MAC of one gets a reply signed with it; null checks no MAC.</summary>
    public KeyStore? Keys { get; init; }

    /// <summary>
    /// The reply buffer callers should give: an NTS reply is as long as its request (RFC 8915 §5.7 forbids longer),
    /// so this serves requests up to the IPv6 minimum MTU's payload; a longer request gets a reply cut to the buffer.
    /// </summary>
    public const int MaxReplyLength = 1280;

    /// <summary>The least reply buffer accepted: the header and the longest MAC trailer.</summary>
    public const int MinReplyBufferLength = NtpHeader.Size + NtpPacket.Mac20Length;

    /// <summary>The least poll exponent a kiss-o'-death asks for: <c>discard average</c> (ntpd's default 3, 8 s).</summary>
    public int KissPoll { get; init; } = 3;

    /// <summary>The state advertised in replies; replaced as a whole by the clock process.</summary>
    public SystemState State
    {
        get => Volatile.Read(ref _state);
        set => Volatile.Write(ref _state, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>
    /// The leap second being smeared (<c>leapsmearinterval</c>), or null: the receive, transmit and reference
    /// timestamps of replies are moved by its offset. Replaced by the engine's tick.
    /// </summary>
    public LeapSmear? Smear
    {
        get => Volatile.Read(ref _smear);
        set => Volatile.Write(ref _smear, value);
    }

    /// <summary>
    /// With a smear configured, replies never announce a leap (as ntpd's leap smear): a client that saw the warning
    /// would expect a step that smeared time never makes.
    /// </summary>
    public bool HidesLeap { get; init; }

    /// <summary>
    /// Builds the reply to <paramref name="request"/>, received at <paramref name="receiveTime"/> (T2), into
    /// <paramref name="reply"/>. Returns the reply's length, or 0 when the request is dropped. The transmit
    /// timestamp (T3) is read from the clock last, just before returning, so the caller should send at once.
    /// </summary>
    public int Respond(ReadOnlySpan<byte> request, NtpTimestamp receiveTime, Span<byte> reply) =>
        Respond(request, receiveTime, reply, AccessFlags.None, RateVerdict.Ok);

    /// <summary>
    /// As above, for a sender with the access flags <paramref name="access"/> whose packet the MRU list judged
    /// <paramref name="rate"/>: <c>ignore</c> drops everything; <c>noserve</c>, <c>notrust</c> (no MAC) and
    /// <c>version</c> (not NTPv4) refuse time; <c>limited</c> refuses packets over the rate. A refusal is silent
    /// unless the entry has <c>kod</c> and the MRU list allows a kiss now: then a kiss-o'-death (DENY for noserve,
    /// RSTR for notrust and version, RATE for the rate) goes back, no larger than the request and carrying no time.
    /// </summary>
    public int Respond(ReadOnlySpan<byte> request, NtpTimestamp receiveTime, Span<byte> reply, AccessFlags access, RateVerdict rate) =>
        Respond(request, receiveTime, reply, access, rate, out _);

    /// <summary>As above; <paramref name="kissed"/> says whether the reply is a kiss-o'-death.</summary>
    public int Respond(ReadOnlySpan<byte> request, NtpTimestamp receiveTime, Span<byte> reply, AccessFlags access, RateVerdict rate, out bool kissed)
    {
        kissed = false;
        Counters.CountReceived();
        if (!NtpHeader.TryPeekModeAndVersion(request, out NtpMode mode, out byte version))
        {
            Counters.CountDropped(DropReason.BadLength);
            return 0;
        }

        if ((access & AccessFlags.Ignore) != 0)
        {
            Counters.CountDropped(DropReason.Restricted);
            return 0;
        }

        // Mode 7 and mode 6 are judged before the NTP header checks: their formats differ.
        if (mode == NtpMode.Private)
        {
            Counters.CountDropped(DropReason.Mode7);
            return 0;
        }

        if (mode == NtpMode.Control)
        {
            Counters.CountDropped(DropReason.Control);
            return 0;
        }

        PacketStatus status = NtpPacket.TryParse(request, out NtpPacket packet);
        if (status != PacketStatus.Ok)
        {
            Counters.CountDropped(status == PacketStatus.BadVersion ? DropReason.BadVersion : DropReason.BadLength);
            return 0;
        }

        if (version == 4)
        {
            Counters.CountCurrentVersion();
        }
        else
        {
            Counters.CountOlderVersion();
            if (version == 1)
            {
                Counters.CountVersion1(mode);
            }
        }

        // An NTPv1 request has no mode field (it reads as 0) and is a client request.
        bool isClient = mode == NtpMode.Client || (mode == NtpMode.Reserved && version == 1);
        if (!isClient)
        {
            Counters.CountDropped(DropReason.Declined);
            return 0;
        }

        if (reply.Length < MinReplyBufferLength)
        {
            throw new ArgumentException("The reply buffer is shorter than a header with a MAC.", nameof(reply));
        }

        NtpHeader header = packet.Header;
        SymmetricKey? key = null;
        AuthOutcome auth = packet.IsCryptoNak ? AuthOutcome.None : Keys is not null ? Keys.Check(packet, out key) : packet.HasMac ? AuthOutcome.Bad : AuthOutcome.None;
        bool cryptoNak = false;
        ReferenceId? refusal = null;
        DropReason reason = DropReason.Restricted;
        ServerCookieKeys? cookieKeys = NtsCookieKeys;
        bool nts = cookieKeys is not null && version == 4 && IsNtsRequest(packet);
        Span<byte> sessionKeys = stackalloc byte[2 * MaxSessionKeyLength];
        NtsSession session = default;
        bool ntsAuthentic = false;

        // Refusals the access list makes anyway (noserve, a limited address over its rate) cost no cryptography.
        if (nts && (access & AccessFlags.NoServe) == 0 && ((access & AccessFlags.Limited) == 0 || rate == RateVerdict.Ok))
        {
            NtsVerdict verdict = CheckNts(cookieKeys!, request, sessionKeys, out session);
            if (verdict != NtsVerdict.Authentic)
            {
                return RefuseNts(verdict, header, version, request, reply, out kissed);
            }

            // An authentic NTS request is as trusted as one with a good MAC (notrust).
            auth = AuthOutcome.Authentic;
            ntsAuthentic = true;
        }

        if ((access & AccessFlags.NoServe) != 0)
        {
            refusal = KissCode.Deny;
        }
        else if (auth == AuthOutcome.Bad)
        {
            // A MAC that fails (or an untrusted key): the answer says so with a crypto-NAK, as ntpd does.
            Counters.CountDropped(DropReason.BadAuth);
            cryptoNak = true;
        }
        else if (((access & AccessFlags.NoTrust) != 0 && auth != AuthOutcome.Authentic) || ((access & AccessFlags.Version) != 0 && version != 4))
        {
            refusal = KissCode.Rstr;
        }
        else if ((access & AccessFlags.Limited) != 0 && rate != RateVerdict.Ok)
        {
            refusal = KissCode.Rate;
            reason = DropReason.Limited;
        }

        if (refusal is ReferenceId kiss)
        {
            sessionKeys.Clear();
            Counters.CountDropped(reason);
            if ((access & AccessFlags.Kod) == 0 || rate == RateVerdict.Limited)
            {
                return 0;
            }

            Counters.CountKiss();
            kissed = true;
            return WriteKiss(header, version, kiss, KissPoll, reply);
        }

        SystemState state = State;
        double smear = Smear?.OffsetAt(receiveTime) ?? 0;
        NtpDuration smearDuration = NtpDuration.FromSeconds(smear);
        var response = new NtpHeader
        {
            Leap = HidesLeap && state.Leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond ? LeapIndicator.NoWarning : state.Leap,
            Version = version,
            Mode = NtpMode.Server,
            Stratum = state.Stratum >= NtpHeader.UnsynchronizedStratum ? (byte)0 : state.Stratum,
            Poll = (sbyte)Math.Clamp((int)header.Poll, NtpConstants.MinPoll, NtpConstants.MaxPoll),
            Precision = state.Precision,
            RootDelay = NtpShort.FromSeconds(state.RootDelay),
            ReferenceId = state.ReferenceId,
            ReferenceTimestamp = smear == 0 || state.ReferenceTime.IsZero ? state.ReferenceTime : state.ReferenceTime - smearDuration,
            OriginTimestamp = header.TransmitTimestamp,
            ReceiveTimestamp = receiveTime - smearDuration,
        };

        if (ntsAuthentic)
        {
            return WriteNtsReply(cookieKeys!, request, reply, state, smearDuration, ref response, session, sessionKeys);
        }

        // The offset read at receipt serves the transmit timestamp too: it moves by 1/interval, microseconds a second.
        NtpTimestamp transmit = _clock.Now() - smearDuration;
        response.RootDispersion = NtpShort.FromSeconds(RootDispersionAt(state, transmit));
        response.TransmitTimestamp = transmit;
        response.Write(reply);
        if (cryptoNak)
        {
            return KeyStore.CryptoNak(reply, NtpHeader.Size);
        }

        Counters.CountAnswered();
        return key is null ? NtpHeader.Size : Keys!.Sign(key, reply, NtpHeader.Size);
    }

    /// <summary>
    /// A kiss-o'-death: leap unsynchronized, stratum 0, the kiss code as reference ID, the poll at least the server's
    /// rate limit (8 s), and all three timestamps the request's transmit timestamp, so that it tells no time.
    /// </summary>
    private static int WriteKiss(in NtpHeader request, byte version, ReferenceId code, int minimumPoll, Span<byte> reply)
    {
        var kiss = new NtpHeader
        {
            Leap = LeapIndicator.Unsynchronized,
            Version = version,
            Mode = NtpMode.Server,
            Stratum = 0,
            Poll = (sbyte)Math.Clamp(Math.Max((int)request.Poll, minimumPoll), 0, NtpConstants.MaxPoll),
            Precision = request.Precision,
            ReferenceId = code,
            OriginTimestamp = request.TransmitTimestamp,
            ReceiveTimestamp = request.TransmitTimestamp,
            TransmitTimestamp = request.TransmitTimestamp,
        };
        kiss.Write(reply);
        return NtpHeader.Size;
    }

    /// <summary>Root dispersion grows at PHI from the last update of the system clock (RFC 5905 §11.2).</summary>
    private static double RootDispersionAt(SystemState state, NtpTimestamp now)
    {
        if (!state.IsSynchronized || state.ReferenceTime.IsZero)
        {
            return state.RootDispersion;
        }

        double age = Math.Max(0, (now - state.ReferenceTime).ToSeconds());
        return state.RootDispersion + NtpConstants.Phi * age;
    }
}
