using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>
/// The smear of one leap second as the serving path applies it (<c>leapsmearinterval</c>): immutable, replaced as a
/// whole by the engine, read without locks and without allocating for each reply. The offset is
/// <see cref="LeapTable.SmearOffset"/>'s, for this leap only.
/// </summary>
/// <remarks>
/// Linux inserts a leap by stepping the system clock back one second at midnight, so the readings of the last second
/// come twice: first before the leap (served 1 s behind), then as the repeated second (served as read). Readings
/// alone cannot tell the two apart; the engine can, by its monotonic time, and marks the crossing:
/// <see cref="RepeatedBelow"/> is the clock reading of the last tick before the leap, so a later reading below it
/// is the repeated second; once a tick has passed the leap the engine retires the smear.
/// </remarks>
public sealed class LeapSmear
{
    public LeapSmear(LeapSecond leap, double interval, double repeatedBelow = double.NaN)
    {
        Leap = leap;
        Interval = interval;
        RepeatedBelow = repeatedBelow;
    }

    public LeapSecond Leap { get; }

    /// <summary>Seconds before the leap over which served time is smeared.</summary>
    public double Interval { get; }

    /// <summary>NTP seconds; readings below it in the leap's last second belong to the repeated second (NaN: not crossing yet).</summary>
    public double RepeatedBelow { get; }

    /// <summary>How far served time is behind the clock reading <paramref name="at"/>, seconds (negative for a deletion).</summary>
    public double OffsetAt(NtpTimestamp at)
    {
        double before = Leap.NtpSeconds - LeapTable.Seconds(at);
        if (before <= 0 || before >= Interval || (before < 1 && !double.IsNaN(RepeatedBelow) && Leap.NtpSeconds - before < RepeatedBelow))
        {
            return 0;
        }

        double fraction = 1 - (before / Interval);
        return Leap.Kind == LeapIndicator.DeleteSecond ? -fraction : fraction;
    }
}
