using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// The undisciplined local clock, reference clock type 1 (<c>127.127.1.u</c>). It claims the local clock is right, so
/// that an isolated network keeps a common time and a server's stratum stays bounded (the fallback the seeds use).
/// It runs as a reference-clock <see cref="Association"/>; selection uses it only when nothing else survives, and a
/// server synchronized to it advertises its stratum plus one. These are its fixed properties.
/// </summary>
public static class LocalClockDriver
{
    /// <summary>The driver type, the t of 127.127.t.u.</summary>
    public const int Type = 1;

    /// <summary>Driver stratum when no <c>fudge ... stratum</c> is given (ntpd's default).</summary>
    public const int DefaultStratum = 5;

    /// <summary>The driver's own precision, about 10 ms, as ntpd reports it.</summary>
    public const sbyte DriverPrecision = -7;

    /// <summary>The driver's poll exponent (64 s).</summary>
    public const int PollExponent = 6;

    public static readonly ReferenceId DefaultReferenceId = ReferenceId.FromAscii("LOCL");
}
