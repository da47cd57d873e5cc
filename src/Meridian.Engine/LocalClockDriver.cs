using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// The undisciplined local clock, reference clock type 1 (<c>127.127.1.u</c>). It claims the local clock is right, so
/// that an isolated network keeps a common time and a server's stratum stays bounded (the fallback the seeds use).
/// The source runs at the fudged stratum; a server synchronized to it advertises one more.
/// </summary>
public sealed class LocalClockDriver
{
    /// <summary>Driver stratum when no <c>fudge ... stratum</c> is given (ntpd's default).</summary>
    public const int DefaultStratum = 5;

    /// <summary>The driver's own precision, about 10 ms, as ntpd reports it.</summary>
    public const sbyte DriverPrecision = -7;

    /// <summary>The driver's poll exponent (64 s).</summary>
    public const int PollExponent = 6;

    public static readonly ReferenceId DefaultReferenceId = ReferenceId.FromAscii("LOCL");

    public LocalClockDriver(int unit, int? stratum = null, ReferenceId? referenceId = null)
    {
        if (unit is < 0 or > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(unit), "The unit of 127.127.1.u is 0 to 255.");
        }

        int s = stratum ?? DefaultStratum;
        if (s is < 0 or > NtpConstants.MaxStratum)
        {
            throw new ArgumentOutOfRangeException(nameof(stratum), "The local clock stratum is 0 to 15.");
        }

        Unit = unit;
        Stratum = s;
        ReferenceId = referenceId ?? DefaultReferenceId;
    }

    public int Unit { get; }

    /// <summary>The stratum of the driver itself; the system above it is one more.</summary>
    public int Stratum { get; }

    public ReferenceId ReferenceId { get; }

    /// <summary>
    /// The system state while this driver is the system peer, as of <paramref name="now"/> (its last poll): root
    /// delay 0, root dispersion the driver's fixed 10 ms, which then grows at PHI until the next poll.
    /// </summary>
    public SystemState SystemStateAt(NtpTimestamp now, sbyte systemPrecision) => new(
        LeapIndicator.NoWarning,
        (byte)Math.Min(Stratum + 1, NtpHeader.UnsynchronizedStratum),
        systemPrecision,
        0,
        NtpConstants.MinDispersion,
        ReferenceId,
        now);
}
