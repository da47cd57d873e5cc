using Meridian.Protocol;

namespace Meridian.Engine.Refclocks;

/// <summary>
/// Bytes a reference clock's serial line delivered, with the time the read that returned them completed: the arrival
/// of a sentence's end, which is when the receiver says its second began plus the serial delay.
/// </summary>
public delegate void RefclockDataHandler(ReadOnlySpan<byte> data, NtpTimestamp arrival);

/// <summary>
/// The devices reference clock drivers read. The daemon gives the host's (a tty opened raw, the Linux PPS API, SysV
/// shared memory); the simulator and tests give fakes. A driver never opens a file itself, so every driver runs
/// under virtual time.
/// </summary>
public interface IRefclockDevices
{
    /// <summary>
    /// Opens a serial line raw at <paramref name="baud"/> for reading; what arrives is handed to
    /// <paramref name="receive"/> on the engine's thread. Null, with the reason in <paramref name="error"/>, when the
    /// device cannot be opened.
    /// </summary>
    IRefclockLine? OpenLine(string path, int baud, RefclockDataHandler receive, out string? error);

    /// <summary>Opens a PPS source (RFC 2783 on Linux: <c>/dev/ppsN</c>). Null, with the reason, when it cannot.</summary>
    IPpsSource? OpenPps(string path, out string? error);

    /// <summary>
    /// Attaches (creating it when missing) the SysV shared-memory segment <paramref name="key"/> of
    /// <see cref="ShmTime.Size"/> bytes, readable and writable by the owner only or by everyone.
    /// </summary>
    IShmSegment? AttachShm(int key, bool ownerOnly, out string? error);
}

/// <summary>An open serial line; it reports itself closed when the device went away (a USB receiver unplugged).</summary>
public interface IRefclockLine : IDisposable
{
    bool IsOpen { get; }
}

/// <summary>One captured PPS edge: the kernel's sequence number and the system time of the edge.</summary>
public readonly record struct PpsCapture(uint Sequence, NtpTimestamp Time);

/// <summary>A PPS source: capture of the assert or the clear edge, read without waiting.</summary>
public interface IPpsSource : IDisposable
{
    bool IsOpen { get; }

    /// <summary>Arms capture of the clear edge (<c>flag2</c>) or the assert edge; false, with the reason, when refused.</summary>
    bool Configure(bool clearEdge, out string? error);

    /// <summary>The latest capture of the armed edge (none has been captured yet: false). Never waits.</summary>
    bool TryFetch(out PpsCapture capture);
}

/// <summary>An attached shared-memory segment in the layout of ntpd's SHM driver (<see cref="ShmTime"/>).</summary>
public interface IShmSegment : IDisposable
{
    /// <summary>
    /// Reads the segment as ntpd's driver does: when <c>valid</c> is set, <c>count</c>, a barrier, a copy of all
    /// <see cref="ShmTime.Size"/> bytes into <paramref name="copy"/>, <c>valid</c> cleared, a barrier, <c>count</c>
    /// again. False (nothing copied, nothing cleared) when <c>valid</c> was not set.
    /// </summary>
    bool TryRead(Span<byte> copy, out int countBefore, out int countAfter);
}

/// <summary>No devices at all: every open fails (a simulation without reference clocks, an engine in a test).</summary>
public sealed class NoRefclockDevices : IRefclockDevices
{
    public static NoRefclockDevices Instance { get; } = new();

    public IRefclockLine? OpenLine(string path, int baud, RefclockDataHandler receive, out string? error)
    {
        error = "no devices in this setting";
        return null;
    }

    public IPpsSource? OpenPps(string path, out string? error)
    {
        error = "no devices in this setting";
        return null;
    }

    public IShmSegment? AttachShm(int key, bool ownerOnly, out string? error)
    {
        error = "no devices in this setting";
        return null;
    }
}
