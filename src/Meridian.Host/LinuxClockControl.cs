using Meridian.Engine;
using Meridian.Host.Native;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>
/// Disciplines the Linux kernel clock: frequency through clock_adjtime(ADJ_FREQUENCY), steps through
/// ADJ_SETOFFSET, the leap bits, TAI − UTC through ADJ_TAI, and the synchronization status: while synchronized every update refreshes
/// <c>maxerror</c>/<c>esterror</c> and keeps STA_UNSYNC clear (the kernel adds 500 µs to maxerror each second and
/// declares the clock unsynchronized by itself at 16 s, about 9 h after the last refresh), and STA_UNSYNC is set when
/// the daemon loses synchronization. The phase is slewed by the discipline itself, so the kernel's own PLL stays off.
/// A call the kernel refuses (EPERM once <c>-u</c> dropped CAP_SYS_TIME, say) is counted and logged — the first of
/// each kind, then every thousandth — never swallowed. Tests drive it with a recording <see cref="IKernelClockCalls"/>.
/// </summary>
public sealed class LinuxClockControl(IKernelClockCalls calls, Log? log = null) : IClockControl
{
    /// <summary>The kernel's limit for maxerror and esterror, microseconds (NTP_PHASE_LIMIT, 16 s).</summary>
    private const long ErrorLimit = 16_000_000;

    /// <summary>The kinds of call (with their errno) whose failure has been logged: each is logged once, then every thousandth failure.</summary>
    private readonly HashSet<(string What, int Error)> _logged = new();

    public bool CanAdjust => true;

    /// <summary>The last error from the kernel (negative errno), or 0 when the last call succeeded.</summary>
    public int LastError { get; private set; }

    /// <summary>What the last refused call was refused with, in words.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>clock_adjtime calls the kernel refused since start.</summary>
    public long Failures { get; private set; }

    /// <summary>Whether the kernel was last told the clock is synchronized.</summary>
    public bool IsMarkedSynchronized { get; private set; }

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
        Check("step", calls.ClockAdjTime(ref timex));
    }

    public void SetFrequency(double secondsPerSecond)
    {
        double clamped = Math.Clamp(secondsPerSecond, -500e-6, 500e-6);
        var timex = new Timex { Modes = Timex.AdjFrequency, Freq = (long)Math.Round(clamped * Timex.FrequencyScale) };
        Check("frequency", calls.ClockAdjTime(ref timex));
    }

    /// <summary>Sets STA_INS or STA_DEL (or neither), keeping the other status bits; false when the kernel refused.</summary>
    public bool SetLeap(LeapIndicator leap)
    {
        int bits = leap switch
        {
            LeapIndicator.AddSecond => Timex.StaIns,
            LeapIndicator.DeleteSecond => Timex.StaDel,
            _ => 0,
        };
        return WriteStatus("leap", status => (status & ~(Timex.StaIns | Timex.StaDel)) | bits, null);
    }

    /// <summary>ADJ_TAI: the kernel takes TAI − UTC in the <c>constant</c> field; false when refused.</summary>
    public bool SetTaiOffset(int seconds)
    {
        var timex = new Timex { Modes = Timex.AdjTai, Constant = seconds };
        return Check("tai", calls.ClockAdjTime(ref timex));
    }

    /// <summary>
    /// Synchronized: clears STA_UNSYNC (and STA_PLL: the kernel PLL stays off) with fresh error bounds, so that the
    /// kernel's maxerror does not grow to its limit. Unsynchronized: sets STA_UNSYNC.
    /// </summary>
    public void SetStatus(bool synchronized, double maxError, double estimatedError)
    {
        if (synchronized)
        {
            WriteStatus("status", status => status & ~(Timex.StaUnsync | Timex.StaPll), (Micro(maxError), Micro(estimatedError)));
        }
        else
        {
            WriteStatus("status", status => status | Timex.StaUnsync, (ErrorLimit, ErrorLimit));
        }

        IsMarkedSynchronized = synchronized && LastError == 0;

        static long Micro(double seconds) => (long)Math.Clamp(seconds * 1e6, 0, ErrorLimit);
    }

    private bool WriteStatus(string what, Func<int, int> change, (long Max, long Est)? errors)
    {
        var read = new Timex();
        if (!Check(what, calls.ClockAdjTime(ref read)))
        {
            return false;
        }

        var timex = new Timex { Modes = Timex.AdjStatus, Status = change(read.Status) };
        if (errors is (long max, long est))
        {
            timex.Modes |= Timex.AdjMaxError | Timex.AdjEstError;
            timex.MaxError = max;
            timex.EstError = est;
        }

        return Check(what, calls.ClockAdjTime(ref timex));
    }

    private bool Check(string what, int result)
    {
        if (result >= 0)
        {
            LastError = 0;
            return true;
        }

        LastError = result;
        LastFailure = $"{what}: {Libc.ErrorText(-result)}";
        Failures++;
        if (_logged.Add((what, result)) || Failures % 1000 == 0)
        {
            log?.Error($"clock_adjtime ({what}) failed: {Libc.ErrorText(-result)}; {Failures} clock call(s) refused so far");
        }

        return false;
    }
}
