using Meridian.Engine;
using Meridian.Host.Native;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>
/// The kernel's CLOCK_REALTIME, read with nanosecond resolution. Writing it (stepping or slewing) is separate and
/// guarded: see <see cref="ClockWriter"/>.
/// </summary>
public sealed unsafe class LinuxClock : IClock
{
    public static LinuxClock Instance { get; } = new();

    public NtpTimestamp Now() => NtpTimestamp.FromUnixNanoseconds(UnixNanoseconds());

    public static long UnixNanoseconds()
    {
        Libc.Timespec ts;
        Libc.ClockGetTime(Libc.CLOCK_REALTIME, &ts);
        return ts.Seconds * 1_000_000_000L + ts.Nanoseconds;
    }

    /// <summary>
    /// The system precision as ntpd measures it: the smallest non-zero step between successive clock readings,
    /// as a power of two (for example -25 for about 30 ns).
    /// </summary>
    public static sbyte MeasurePrecision()
    {
        long smallest = long.MaxValue;
        for (int i = 0; i < 2000; i++)
        {
            long a = UnixNanoseconds();
            long b = UnixNanoseconds();
            while (b == a)
            {
                b = UnixNanoseconds();
            }

            smallest = Math.Min(smallest, b - a);
        }

        double seconds = Math.Max(smallest, 1) * 1e-9;
        return (sbyte)Math.Clamp((int)Math.Round(Math.Log2(seconds)), -30, 0);
    }
}

/// <summary>
/// Steps and slews the system clock for ntpdate and ntpdig. Never used by the tests: they query only (-q, -d) and
/// run without CAP_SYS_TIME; setting <c>MERIDIAN_FORBID_CLOCK_WRITES=1</c> makes any attempt fail before the call.
/// </summary>
public static unsafe class ClockWriter
{
    public const string ForbidVariable = "MERIDIAN_FORBID_CLOCK_WRITES";

    /// <summary>Moves the clock by <paramref name="offsetSeconds"/> at once (clock_settime).</summary>
    public static void Step(double offsetSeconds)
    {
        ThrowIfForbidden();
        Libc.Timespec now;
        Libc.ClockGetTime(Libc.CLOCK_REALTIME, &now);
        long target = now.Seconds * 1_000_000_000L + now.Nanoseconds + (long)Math.Round(offsetSeconds * 1e9);
        var ts = new Libc.Timespec { Seconds = Math.DivRem(target, 1_000_000_000L, out long ns), Nanoseconds = ns };
        if (ts.Nanoseconds < 0)
        {
            ts.Nanoseconds += 1_000_000_000L;
            ts.Seconds--;
        }

        if (Libc.ClockSetTime(Libc.CLOCK_REALTIME, &ts) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new IOException($"clock_settime: {Libc.ErrorText(errno)}");
        }
    }

    /// <summary>Asks the kernel to slew the clock by <paramref name="offsetSeconds"/> (adjtime, 500 ppm).</summary>
    public static void Slew(double offsetSeconds)
    {
        ThrowIfForbidden();
        long micros = (long)Math.Round(offsetSeconds * 1e6);
        var delta = new Libc.Timeval { Seconds = Math.DivRem(micros, 1_000_000L, out long us), Microseconds = us };
        if (delta.Microseconds < 0)
        {
            delta.Microseconds += 1_000_000L;
            delta.Seconds--;
        }

        if (Libc.AdjTime(&delta, null) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new IOException($"adjtime: {Libc.ErrorText(errno)}");
        }
    }

    private static void ThrowIfForbidden()
    {
        if (Environment.GetEnvironmentVariable(ForbidVariable) == "1")
        {
            throw new InvalidOperationException($"changing the system clock is forbidden here ({ForbidVariable}=1)");
        }
    }
}
