using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// Answers client requests (mode 3) with server replies (mode 4) per RFC 5905 §9.2's fast transmit path, without
/// keeping per-client state and without allocating. Everything it does not answer it counts by reason.
/// </summary>
public sealed class ServerResponder
{
    private readonly IClock _clock;
    private SystemState _state;

    public ServerResponder(IClock clock, SystemState initialState)
    {
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _state = initialState ?? throw new ArgumentNullException(nameof(initialState));
    }

    public PacketCounters Counters { get; } = new();

    /// <summary>The state advertised in replies; replaced as a whole by the clock process.</summary>
    public SystemState State
    {
        get => Volatile.Read(ref _state);
        set => Volatile.Write(ref _state, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>
    /// Builds the reply to <paramref name="request"/>, received at <paramref name="receiveTime"/> (T2), into
    /// <paramref name="reply"/>. Returns the reply's length, or 0 when the request is dropped. The transmit
    /// timestamp (T3) is read from the clock last, just before returning, so the caller should send at once.
    /// </summary>
    public int Respond(ReadOnlySpan<byte> request, NtpTimestamp receiveTime, Span<byte> reply)
    {
        Counters.CountReceived();
        if (!NtpHeader.TryPeekModeAndVersion(request, out NtpMode mode, out byte version))
        {
            Counters.CountDropped(DropReason.BadLength);
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

        if (reply.Length < NtpHeader.Size)
        {
            throw new ArgumentException("The reply buffer is shorter than an NTP header.", nameof(reply));
        }

        SystemState state = State;
        NtpHeader header = packet.Header;
        var response = new NtpHeader
        {
            Leap = state.Leap,
            Version = version,
            Mode = NtpMode.Server,
            Stratum = state.Stratum >= NtpHeader.UnsynchronizedStratum ? (byte)0 : state.Stratum,
            Poll = (sbyte)Math.Clamp((int)header.Poll, NtpConstants.MinPoll, NtpConstants.MaxPoll),
            Precision = state.Precision,
            RootDelay = NtpShort.FromSeconds(state.RootDelay),
            ReferenceId = state.ReferenceId,
            ReferenceTimestamp = state.ReferenceTime,
            OriginTimestamp = header.TransmitTimestamp,
            ReceiveTimestamp = receiveTime,
        };

        NtpTimestamp transmit = _clock.Now();
        response.RootDispersion = NtpShort.FromSeconds(RootDispersionAt(state, transmit));
        response.TransmitTimestamp = transmit;
        response.Write(reply);
        Counters.CountAnswered();
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
