using System.Runtime.InteropServices;
using Meridian.Engine;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// The operating system as mode 6 describes it, and the kernel's clock discipline state: read-only calls, allowed
/// without privileges, that the daemon makes once a second for ntpq's <c>kerninfo</c> and once at start.
/// </summary>
public static unsafe partial class KernelClockState
{
    /// <summary>The kernel's discipline state through <c>clock_adjtime</c> in read-only mode; null when the call fails.</summary>
    public static KernelLoop? Read(IKernelClockCalls calls)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var timex = new Timex();
        if (calls.ClockAdjTime(ref timex) < 0)
        {
            return null;
        }

        double fine = (timex.Status & Timex.StaNano) != 0 ? 1e-9 : 1e-6;
        return new KernelLoop(
            Offset: timex.Offset * fine,
            FrequencyPpm: timex.Freq / 65536.0,
            MaxError: timex.MaxError * 1e-6,
            EstimatedError: timex.EstError * 1e-6,
            Status: timex.Status,
            TimeConstant: timex.Constant,
            Precision: timex.Precision * 1e-6,
            TolerancePpm: timex.Tolerance / 65536.0,
            PpsFrequencyPpm: timex.PpsFreq / 65536.0,
            PpsStability: timex.Stabil / 65536.0,
            PpsJitter: timex.Jitter * fine,
            PpsShift: timex.Shift,
            PpsCalibrations: timex.CalCnt,
            PpsJitterExceeded: timex.JitCnt,
            PpsStabilityExceeded: timex.StbCnt,
            PpsCalibrationErrors: timex.ErrCnt);
    }

    /// <summary>version, processor and system as ntpd reports them: system is uname's sysname/release.</summary>
    public static HostDescription Describe(string version)
    {
        string processor = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "x86_64",
            Architecture.Arm64 => "aarch64",
            Architecture.X86 => "i686",
            var other => other.ToString().ToLowerInvariant(),
        };
        byte* buffer = stackalloc byte[UtsNameSize];
        string system = Uname(buffer) == 0
            ? $"{Field(buffer, 0)}/{Field(buffer, 2)}"
            : "Linux/" + Environment.OSVersion.Version;
        return new HostDescription(version, processor, system);

        static string Field(byte* uts, int index) => Marshal.PtrToStringUTF8((nint)(uts + index * UtsFieldSize)) ?? string.Empty;
    }

    /// <summary>struct utsname on Linux: six fields of 65 octets.</summary>
    private const int UtsFieldSize = 65;

    private const int UtsNameSize = 6 * UtsFieldSize;

    [LibraryImport(GlobalSymbols.Libc, EntryPoint = "uname", SetLastError = true)]
    private static partial int Uname(byte* buffer);
}
