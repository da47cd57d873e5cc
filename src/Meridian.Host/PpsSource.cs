using System.Runtime.InteropServices;
using Meridian.Engine.Refclocks;
using Meridian.Host.Native;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>
/// A PPS source through the Linux PPS API (<c>/dev/ppsN</c>, linux/pps.h, the kernel side of RFC 2783): the kernel
/// stamps each edge with the system time in its interrupt handler, and PPS_FETCH with a zero timeout reads the last
/// stamp without waiting, so the daemon's one thread never blocks on it.
/// </summary>
public sealed unsafe class PpsSource : IPpsSource
{
    private readonly int _fd;
    private bool _clearEdge;
    private int _open = 1;
    private int _disposed;

    private PpsSource(int fd, string path, int capabilities)
    {
        _fd = fd;
        Path = path;
        Capabilities = capabilities;
    }

    public string Path { get; }

    /// <summary>What PPS_GETCAP reported: the PPS_CAPTURE*, PPS_OFFSET*, PPS_TSFMT_* and PPS_CANWAIT bits.</summary>
    public int Capabilities { get; }

    /// <summary>False once an ioctl failed as if the device had gone (a USB receiver unplugged), or after Dispose.</summary>
    public bool IsOpen => Volatile.Read(ref _open) == 1;

    /// <summary>
    /// Opens <paramref name="path"/> read-write, as ntpd's PPS clients do, or read-only when that is all the
    /// permissions allow (Linux checks CAP_SYS_TIME for PPS_SETPARAMS, not the open mode), and checks with
    /// PPS_GETCAP that it is a PPS device.
    /// </summary>
    /// <exception cref="RefclockDeviceException">The path cannot be opened or is not a PPS device.</exception>
    public static PpsSource Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        int fd = Libc.Open(path, Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is not (Libc.EACCES or Libc.EPERM or Libc.EROFS))
            {
                throw RefclockDeviceException.FromErrno(errno, path);
            }

            fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_NOCTTY | Libc.O_CLOEXEC);
            if (fd < 0)
            {
                throw RefclockDeviceException.LastError(path);
            }
        }

        // The int the kernel writes sits in a long, in case a kernel ever writes what the _IOR size (8) says.
        long capabilities = 0;
        if (Libc.Ioctl(fd, Libc.PPS_GETCAP, &capabilities) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.Close(fd);
            throw new RefclockDeviceException(errno, $"{path}: not a PPS device ({Libc.ErrorText(errno)})");
        }

        return new PpsSource(fd, path, (int)capabilities);
    }

    /// <summary>
    /// Arms capture of the clear edge or the assert edge, in struct timespec format: PPS_GETPARAMS, the new mode,
    /// PPS_SETPARAMS (the offsets the kernel adds stay as they were; the driver applies its own fudge).
    /// </summary>
    public bool Configure(bool clearEdge, out string? error)
    {
        if (!IsOpen)
        {
            error = $"{Path}: closed";
            return false;
        }

        int edge = clearEdge ? Libc.PPS_CAPTURECLEAR : Libc.PPS_CAPTUREASSERT;
        if ((Capabilities & edge) == 0 || (Capabilities & Libc.PPS_TSFMT_TSPEC) == 0)
        {
            error = $"{Path}: cannot capture the {(clearEdge ? "clear" : "assert")} edge as a timespec" +
                $" (capabilities 0x{Capabilities:x})";
            return false;
        }

        Libc.PpsKParams parameters;
        if (Libc.Ioctl(_fd, Libc.PPS_GETPARAMS, &parameters) != 0)
        {
            error = Failed("PPS_GETPARAMS");
            return false;
        }

        parameters.Mode = edge | Libc.PPS_TSFMT_TSPEC;
        if (Libc.Ioctl(_fd, Libc.PPS_SETPARAMS, &parameters) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            error = errno == Libc.EPERM
                ? $"{Path}: PPS_SETPARAMS needs CAP_SYS_TIME ({Libc.ErrorText(errno)})"
                : Failed("PPS_SETPARAMS", errno);
            return false;
        }

        _clearEdge = clearEdge;
        error = null;
        return true;
    }

    /// <summary>
    /// The armed edge's last capture (the assert edge until <see cref="Configure"/> says otherwise), by PPS_FETCH
    /// with a zero timeout, which returns at once. False while the kernel has captured none (sequence 0); the
    /// driver compares sequences to see a new one.
    /// </summary>
    public bool TryFetch(out PpsCapture capture)
    {
        capture = default;
        if (!IsOpen)
        {
            return false;
        }

        // A zero timeout without PPS_TIME_INVALID: the kernel does not wait (drivers/pps/pps.c, pps_cdev_pps_fetch).
        Libc.PpsFData data = default;
        if (Libc.Ioctl(_fd, Libc.PPS_FETCH, &data) != 0)
        {
            // A zero timeout can neither time out nor be interrupted: any error is the device's.
            Volatile.Write(ref _open, 0);
            return false;
        }

        uint sequence = _clearEdge ? data.Info.ClearSequence : data.Info.AssertSequence;
        Libc.PpsKTime time = _clearEdge ? data.Info.ClearTime : data.Info.AssertTime;
        if (sequence == 0 || (time.Flags & Libc.PPS_TIME_INVALID) != 0)
        {
            return false;
        }

        capture = new PpsCapture(sequence, NtpTimestamp.FromUnixNanoseconds(time.Seconds * 1_000_000_000L + time.Nanoseconds));
        return true;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Volatile.Write(ref _open, 0);
            Libc.Close(_fd);
        }
    }

    private string Failed(string operation) => Failed(operation, Marshal.GetLastPInvokeError());

    /// <summary>The message for a failed ioctl; one that says the device is gone also closes the source.</summary>
    private string Failed(string operation, int errno)
    {
        if (errno is Libc.ENODEV or Libc.ENXIO or Libc.EIO or Libc.EBADF)
        {
            Volatile.Write(ref _open, 0);
        }

        return $"{Path}: {operation}: {Libc.ErrorText(errno)}";
    }
}
