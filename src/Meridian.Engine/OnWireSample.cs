using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// One measurement from a client/server exchange (RFC 5905 §8): the clock offset θ = ((T2−T1)+(T3−T4))/2 and the
/// round-trip delay δ = (T4−T1)−(T3−T2), computed in 32.32 fixed point so that era boundaries cause no error.
/// </summary>
public readonly record struct OnWireSample(NtpDuration Offset, NtpDuration Delay)
{
    /// <param name="t1">Client transmit (the reply's origin timestamp).</param>
    /// <param name="t2">Server receive.</param>
    /// <param name="t3">Server transmit.</param>
    /// <param name="t4">Client receive.</param>
    public static OnWireSample FromTimestamps(NtpTimestamp t1, NtpTimestamp t2, NtpTimestamp t3, NtpTimestamp t4)
    {
        NtpDuration outbound = t2 - t1;
        NtpDuration inbound = t3 - t4;
        NtpDuration offset = NtpDuration.FromRaw((outbound.Raw >> 1) + (inbound.Raw >> 1));
        NtpDuration delay = (t4 - t1) - (t3 - t2);
        return new OnWireSample(offset, delay);
    }

    /// <summary>
    /// The dispersion a fresh sample starts with (RFC 5905 §8): the read precisions of both ends plus PHI over the
    /// round trip.
    /// </summary>
    public double Dispersion(sbyte peerPrecision, double localPrecisionSeconds) =>
        Math.Pow(2, peerPrecision) + localPrecisionSeconds + NtpConstants.Phi * Math.Max(0, Delay.ToSeconds());
}
