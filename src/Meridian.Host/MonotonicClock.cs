using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// CLOCK_MONOTONIC in seconds: the time base of every deadline the daemon keeps. The daemon steps the wall clock, so
/// a poll or a timeout measured on it would jump with the step; the monotonic clock never does.
/// </summary>
public static unsafe class MonotonicClock
{
    public static double Now
    {
        get
        {
            Libc.Timespec ts;
            Libc.ClockGetTime(Libc.CLOCK_MONOTONIC, &ts);
            return ts.Seconds + ts.Nanoseconds * 1e-9;
        }
    }
}
