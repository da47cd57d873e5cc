using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// The system variables a server advertises (RFC 5905 §11): what it thinks of its own time. Immutable, so the
/// receive path can read the current snapshot without locks while the clock process publishes new ones.
/// </summary>
public sealed record SystemState(
    LeapIndicator Leap,
    byte Stratum,
    sbyte Precision,
    double RootDelay,
    double RootDispersion,
    ReferenceId ReferenceId,
    NtpTimestamp ReferenceTime)
{
    /// <summary>The state before any source has been chosen: leap 3, stratum 16, reference ID <c>INIT</c>.</summary>
    public static SystemState Unsynchronized(sbyte precision) => new(
        LeapIndicator.Unsynchronized,
        NtpHeader.UnsynchronizedStratum,
        precision,
        0,
        0,
        KissCode.Init,
        NtpTimestamp.Zero);

    public bool IsSynchronized => Leap != LeapIndicator.Unsynchronized && Stratum < NtpHeader.UnsynchronizedStratum;
}
