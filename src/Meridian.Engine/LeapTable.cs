using Meridian.Protocol;

namespace Meridian.Engine;

/// <summary>From <see cref="NtpSeconds"/> (00:00:00 UTC of the day after the leap) on, TAI − UTC is <see cref="TaiOffset"/>.</summary>
public readonly record struct LeapTransition(long NtpSeconds, int TaiOffset);

/// <summary>A leap second of the table: when it takes effect, which kind, and TAI − UTC after it.</summary>
/// <param name="NtpSeconds">The NTP second count at which the new offset applies (the midnight that ends the leap's day).</param>
/// <param name="Kind"><see cref="LeapIndicator.AddSecond"/> (23:59:60 is inserted) or <see cref="LeapIndicator.DeleteSecond"/> (23:59:59 is skipped).</param>
/// <param name="TaiOffsetAfter">TAI − UTC from then on.</param>
public readonly record struct LeapSecond(long NtpSeconds, LeapIndicator Kind, int TaiOffsetAfter);

/// <summary>
/// The leap seconds of a leap seconds file (ntpd's <c>leapfile</c>), asked about one instant at a time, without
/// state: what TAI − UTC is, which leap comes next, what the leap indicator and the kernel should say, and how far
/// served time is smeared. Times are NTP timestamps of the (un-smeared) system clock, read in the era nearest to the
/// table's entries (1968–2104). The first entry (1972, TAI − UTC = 10) starts the table and is not a leap.
/// </summary>
public sealed class LeapTable
{
    /// <summary>
    /// ntpd 4.2.8 (leapsec.c) schedules a leap 28 days before it (the proximity LSPROX_SCHEDULE): from then on the
    /// leap indicator of its packets announces it. The kernel is told only in the last day (LSPROX_ANNOUNCE).
    /// </summary>
    public const double AnnounceSeconds = 28 * 86400.0;

    /// <summary>How long before expiry a warning is due: ntpd's and update-leap's 28 days.</summary>
    public const double ExpiryWarningDays = 28;

    private readonly LeapTransition[] _transitions;

    public LeapTable(IEnumerable<LeapTransition> transitions, long updated, long expires)
    {
        ArgumentNullException.ThrowIfNull(transitions);
        _transitions = [.. transitions.OrderBy(t => t.NtpSeconds)];
        Updated = updated;
        Expires = expires;
    }

    public IReadOnlyList<LeapTransition> Transitions => _transitions;

    /// <summary>When the file was last updated (<c>#$</c>), NTP seconds.</summary>
    public long Updated { get; }

    /// <summary>When the file expires (<c>#@</c>), NTP seconds.</summary>
    public long Expires { get; }

    /// <summary>TAI − UTC at <paramref name="at"/>: the offset of the last entry at or before it (0 before the table).</summary>
    public int TaiOffset(NtpTimestamp at)
    {
        double t = Seconds(at);
        int offset = 0;
        foreach (LeapTransition transition in _transitions)
        {
            if (transition.NtpSeconds > t)
            {
                break;
            }

            offset = transition.TaiOffset;
        }

        return offset;
    }

    /// <summary>The first leap that takes effect after <paramref name="at"/>, or null when the table knows none.</summary>
    public LeapSecond? NextLeap(NtpTimestamp at)
    {
        double t = Seconds(at);
        for (int i = 1; i < _transitions.Length; i++)
        {
            if (_transitions[i].NtpSeconds > t)
            {
                return Leap(i);
            }
        }

        return null;
    }

    /// <summary>The last leap that took effect at or before <paramref name="at"/>, or null.</summary>
    public LeapSecond? LastLeap(NtpTimestamp at)
    {
        double t = Seconds(at);
        for (int i = _transitions.Length - 1; i >= 1; i--)
        {
            if (_transitions[i].NtpSeconds <= t)
            {
                return Leap(i);
            }
        }

        return null;
    }

    /// <summary>
    /// The leap indicator a server with this file sends at <paramref name="at"/>: the next leap's kind from 28 days
    /// before it (ntpd 4.2.8's LSPROX_SCHEDULE) until it takes effect, then <see cref="LeapIndicator.NoWarning"/>.
    /// </summary>
    public LeapIndicator Announced(NtpTimestamp at) =>
        NextLeap(at) is LeapSecond leap && leap.NtpSeconds - Seconds(at) <= AnnounceSeconds ? leap.Kind : LeapIndicator.NoWarning;

    /// <summary>
    /// What the kernel should be armed with at <paramref name="at"/>: the leap only in the last UTC day before it (the
    /// day whose midnight is the leap; ntpd's LSPROX_ANNOUNCE), since Linux performs an armed leap at the next
    /// midnight, whichever month it is.
    /// </summary>
    public LeapIndicator ArmKernel(NtpTimestamp at) =>
        NextLeap(at) is LeapSecond leap && leap.NtpSeconds - Seconds(at) <= 86400 ? leap.Kind : LeapIndicator.NoWarning;

    /// <summary>Past the file's <c>#@</c> date: leaps announced since are unknown to it.</summary>
    public bool Expired(NtpTimestamp at) => Seconds(at) >= Expires;

    /// <summary>Days until the file expires (negative once expired).</summary>
    public double DaysToExpiry(NtpTimestamp at) => (Expires - Seconds(at)) / 86400;

    /// <summary>
    /// How far served time is behind the system clock at <paramref name="at"/> when a leap is smeared over
    /// <paramref name="interval"/> seconds (ntpd's <c>leapsmearinterval</c>), seconds: growing linearly from 0 at
    /// leap − interval to 1 s at the leap, 0 outside. Served time = clock − offset.
    /// For an insertion the offset is positive: served time runs slow (by 1/interval) so that by the leap it is 1 s
    /// behind the un-smeared count. At the leap UTC repeats a second (the kernel steps the system clock back by 1 s),
    /// so from then on the un-smeared clock itself is that 1 s behind, and the offset is 0 again with no jump in
    /// served time. For a deletion the offset is negative (served time runs fast and is 1 s ahead by the leap, when
    /// the kernel skips 23:59:59). Allocation free: it runs on the serving path.
    /// </summary>
    public double SmearOffset(NtpTimestamp at, double interval)
    {
        if (interval <= 0)
        {
            return 0;
        }

        double t = Seconds(at);
        for (int i = 1; i < _transitions.Length; i++)
        {
            if (_transitions[i].NtpSeconds > t)
            {
                double before = _transitions[i].NtpSeconds - t;
                if (before >= interval)
                {
                    return 0;
                }

                double fraction = 1 - (before / interval);
                return _transitions[i].TaiOffset > _transitions[i - 1].TaiOffset ? fraction : -fraction;
            }
        }

        return 0;
    }

    /// <summary>The NTP second count of a time, with its fraction, in the era nearest to the table (1968–2104).</summary>
    public static double Seconds(NtpTimestamp at) =>
        (at.ToUnixNanoseconds() / 1e9) + NtpTimestamp.UnixEpochOffsetSeconds;

    /// <summary>UTC of an NTP second count.</summary>
    public static DateTime ToUtc(long ntpSeconds) => DateTime.UnixEpoch.AddSeconds(ntpSeconds - NtpTimestamp.UnixEpochOffsetSeconds);

    private LeapSecond Leap(int i) => new(
        _transitions[i].NtpSeconds,
        _transitions[i].TaiOffset > _transitions[i - 1].TaiOffset ? LeapIndicator.AddSecond : LeapIndicator.DeleteSecond,
        _transitions[i].TaiOffset);
}
