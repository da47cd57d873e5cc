using Meridian.Engine;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// Disciplines the Linux kernel clock: frequency through clock_adjtime(ADJ_FREQUENCY), steps through
/// ADJ_SETOFFSET, and, once synchronized, clears STA_UNSYNC so that the kernel copies the time to the RTC every 11
/// minutes. The phase is slewed by the discipline itself (frequency changes each second), so the kernel's own PLL
/// stays off. Tests drive it with a recording <see cref="IKernelClockCalls"/>; nothing in the repository's tests
/// calls the real one.
/// </summary>
public sealed class LinuxClockControl(IKernelClockCalls calls) : IClockControl
{
    private bool _synchronized;

    public bool CanAdjust => true;

    /// <summary>The last error from the kernel (negative errno), or 0.</summary>
    public int LastError { get; private set; }

    public void Step(double seconds)
    {
        long nanoseconds = (long)Math.Round(seconds * 1e9);
        long whole = Math.DivRem(nanoseconds, 1_000_000_000L, out long fraction);
        if (fraction < 0)
        {
            fraction += 1_000_000_000L;
            whole--;
        }

        var timex = new Timex { Modes = Timex.AdjSetOffset | Timex.AdjNano, TimeSeconds = whole, TimeFraction = fraction };
        Check(calls.ClockAdjTime(ref timex));
    }

    public void SetFrequency(double secondsPerSecond)
    {
        double clamped = Math.Clamp(secondsPerSecond, -500e-6, 500e-6);
        var timex = new Timex { Modes = Timex.AdjFrequency, Freq = (long)Math.Round(clamped * Timex.FrequencyScale) };
        Check(calls.ClockAdjTime(ref timex));
    }

    /// <summary>Sets STA_INS or STA_DEL (or neither), keeping the other status bits.</summary>
    public void SetLeap(Meridian.Protocol.LeapIndicator leap)
    {
        var read = new Timex();
        Check(calls.ClockAdjTime(ref read));
        int status = read.Status & ~(Timex.StaIns | Timex.StaDel);
        status |= leap switch
        {
            Meridian.Protocol.LeapIndicator.AddSecond => Timex.StaIns,
            Meridian.Protocol.LeapIndicator.DeleteSecond => Timex.StaDel,
            _ => 0,
        };
        var timex = new Timex { Modes = Timex.AdjStatus, Status = status };
        Check(calls.ClockAdjTime(ref timex));
    }

    /// <summary>Tells the kernel the clock is synchronized (clears STA_UNSYNC) with the given error bounds.</summary>
    public void MarkSynchronized(double maxError, double estimatedError)
    {
        var read = new Timex();
        Check(calls.ClockAdjTime(ref read));
        var timex = new Timex
        {
            Modes = Timex.AdjStatus | Timex.AdjMaxError | Timex.AdjEstError,
            Status = read.Status & ~(Timex.StaUnsync | Timex.StaPll),
            MaxError = (long)Math.Min(maxError * 1e6, 16_000_000),
            EstError = (long)Math.Min(estimatedError * 1e6, 16_000_000),
        };
        Check(calls.ClockAdjTime(ref timex));
        _synchronized = true;
    }

    public bool IsMarkedSynchronized => _synchronized;

    private void Check(int result) => LastError = result < 0 ? result : 0;
}
