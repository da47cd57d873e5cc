using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>What a client makes of a datagram that arrived from the server it asked.</summary>
public enum ReplyStatus
{
    Accepted,

    /// <summary>Not a well-formed NTP packet.</summary>
    Malformed,

    /// <summary>Not a server or symmetric passive reply.</summary>
    UnexpectedMode,

    /// <summary>The origin timestamp is not our transmit timestamp: stale, duplicate or forged (RFC 5905 §8, "bogus").</summary>
    BogusOrigin,
}

/// <summary>The on-wire checks a client applies to a reply before using any of its timestamps.</summary>
public static class ReplyCheck
{
    public static ReplyStatus Check(ReadOnlySpan<byte> datagram, NtpTimestamp sentTransmit, out NtpHeader header)
    {
        header = default;
        if (NtpPacket.TryParse(datagram, out NtpPacket packet) != PacketStatus.Ok)
        {
            return ReplyStatus.Malformed;
        }

        header = packet.Header;
        if (header.Mode is not (NtpMode.Server or NtpMode.SymmetricPassive))
        {
            return ReplyStatus.UnexpectedMode;
        }

        return header.OriginTimestamp == sentTransmit ? ReplyStatus.Accepted : ReplyStatus.BogusOrigin;
    }
}

/// <summary>Why a well-formed reply from a server cannot be used for time, in the order the checks apply.</summary>
public enum Unsuitability
{
    None,

    /// <summary>Stratum above 15 (16 is "unsynchronized" spelled as a stratum).</summary>
    StratumTooHigh,

    /// <summary>A kiss-o'-death with a code that is about us (RATE, DENY, RSTR, ...): see <see cref="KissCode"/>.</summary>
    KissOfDeath,

    /// <summary>The server has no time to give: leap 3, or stratum 0 with INIT or STEP.</summary>
    Unsynchronized,

    /// <summary>A zero receive or transmit timestamp: nothing to compute an offset from.</summary>
    ZeroTimestamps,
}

/// <summary>The judgment every client (the daemon's associations, ntpdate, ntpdig) makes of a server's reply.</summary>
public static class ServerReply
{
    /// <param name="header">The reply's header.</param>
    /// <param name="broadcast">
    /// A mode 5 broadcast answers no request: its receive timestamp is zero (RFC 5905 §9.2), only the transmit
    /// timestamp counts.
    /// </param>
    public static Unsuitability Judge(in NtpHeader header, bool broadcast = false)
    {
        if (header.Stratum > NtpConstants.MaxStratum)
        {
            return Unsuitability.StratumTooHigh;
        }

        if (KissCode.IsKissOfDeath(header))
        {
            return KissCode.MeansUnsynchronized(header.ReferenceId) ? Unsuitability.Unsynchronized : Unsuitability.KissOfDeath;
        }

        if (header.Leap == LeapIndicator.Unsynchronized)
        {
            return Unsuitability.Unsynchronized;
        }

        return (!broadcast && header.ReceiveTimestamp.IsZero) || header.TransmitTimestamp.IsZero ? Unsuitability.ZeroTimestamps : Unsuitability.None;
    }
}
