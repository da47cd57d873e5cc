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
