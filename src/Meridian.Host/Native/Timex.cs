using System.Runtime.InteropServices;

namespace Meridian.Host.Native;

/// <summary>struct timex of clock_adjtime(2), x86-64 and arm64 layout.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Timex
{
    public const uint AdjFrequency = 0x0002;
    public const uint AdjMaxError = 0x0004;
    public const uint AdjEstError = 0x0008;
    public const uint AdjStatus = 0x0010;
    public const uint AdjTai = 0x0080;
    public const uint AdjSetOffset = 0x0100;
    public const uint AdjNano = 0x2000;

    public const int StaPll = 0x0001;
    public const int StaUnsync = 0x0040;
    public const int StaIns = 0x0010;
    public const int StaDel = 0x0020;
    public const int StaNano = 0x2000;

    /// <summary>Frequency units: ppm scaled by 2^16.</summary>
    public const double FrequencyScale = 65536e6;

    public uint Modes;
    public long Offset;
    public long Freq;
    public long MaxError;
    public long EstError;
    public int Status;
    public long Constant;
    public long Precision;
    public long Tolerance;
    public long TimeSeconds;
    public long TimeFraction;
    public long Tick;
    public long PpsFreq;
    public long Jitter;
    public int Shift;
    public long Stabil;
    public long JitCnt;
    public long CalCnt;
    public long ErrCnt;
    public long StbCnt;
    public int Tai;
    private unsafe fixed int _reserved[11];
}

/// <summary>The clock system calls, behind an interface so that what the daemon would do to the clock can be recorded in tests.</summary>
public interface IKernelClockCalls
{
    /// <summary>clock_adjtime(CLOCK_REALTIME, timex); returns the clock state or -errno.</summary>
    int ClockAdjTime(ref Timex timex);
}

/// <summary>The real calls. Only the daemon, run without <c>disable ntp</c>, reaches them.</summary>
public sealed unsafe partial class KernelClockCalls : IKernelClockCalls
{
    public static KernelClockCalls Instance { get; } = new();

    private static readonly bool Forbidden = Environment.GetEnvironmentVariable(ClockWriter.ForbidVariable) == "1";

    /// <summary>Reads (modes 0) always; writes fail with EPERM before the call under <c>MERIDIAN_FORBID_CLOCK_WRITES=1</c>.</summary>
    public int ClockAdjTime(ref Timex timex)
    {
        if (Forbidden && timex.Modes != 0)
        {
            return -1; // -EPERM
        }

        fixed (Timex* p = &timex)
        {
            int result = ClockAdjTimeNative(Libc.CLOCK_REALTIME, p);
            return result < 0 ? -Marshal.GetLastPInvokeError() : result;
        }
    }

    [LibraryImport("libc", EntryPoint = "clock_adjtime", SetLastError = true)]
    private static partial int ClockAdjTimeNative(int clock, Timex* timex);
}
