using System.Runtime.InteropServices;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// A pseudo-terminal pair (posix_openpt(3), pts(4)): the slave is a real tty that <see cref="SerialLine"/> opens and
/// sets raw, the master plays the receiver on the other end of the wire. For tests and tools that stand in for a
/// GPS; closing the master hangs the slave up, as unplugging a USB receiver does.
/// </summary>
public sealed unsafe class PseudoTerminal : IDisposable
{
    private int _disposed;

    private PseudoTerminal(int master, string slavePath)
    {
        MasterHandle = master;
        SlavePath = slavePath;
    }

    /// <summary>The master side's descriptor (blocking, close-on-exec).</summary>
    public int MasterHandle { get; }

    /// <summary>The slave's path, <c>/dev/pts/N</c>.</summary>
    public string SlavePath { get; }

    /// <summary>Opens a pair: posix_openpt, grantpt, unlockpt (without which the slave cannot be opened), ptsname_r.</summary>
    /// <exception cref="RefclockDeviceException">One of the calls failed (no /dev/ptmx, no free pty).</exception>
    public static PseudoTerminal Open()
    {
        int master = Libc.PosixOpenPt(Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        if (master < 0)
        {
            throw RefclockDeviceException.LastError("/dev/ptmx", "posix_openpt");
        }

        try
        {
            if (Libc.GrantPt(master) != 0)
            {
                throw RefclockDeviceException.LastError("/dev/ptmx", "grantpt");
            }

            if (Libc.UnlockPt(master) != 0)
            {
                throw RefclockDeviceException.LastError("/dev/ptmx", "unlockpt");
            }

            const int capacity = 128;
            byte* name = stackalloc byte[capacity];
            int errno = Libc.PtsNameR(master, name, capacity);
            if (errno != 0)
            {
                throw RefclockDeviceException.FromErrno(errno, "/dev/ptmx", "ptsname_r");
            }

            return new PseudoTerminal(master, Marshal.PtrToStringUTF8((nint)name) ?? "");
        }
        catch
        {
            Libc.Close(master);
            throw;
        }
    }

    /// <summary>Writes all of <paramref name="data"/> to the master: the slave's reader receives it.</summary>
    /// <exception cref="RefclockDeviceException">write(2) failed.</exception>
    public void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        while (!data.IsEmpty)
        {
            nint written;
            fixed (byte* bytes = data)
            {
                written = Libc.Write(MasterHandle, bytes, (nuint)data.Length);
            }

            if (written < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                throw RefclockDeviceException.FromErrno(errno, SlavePath, "write to the master");
            }

            data = data[(int)written..];
        }
    }

    /// <summary>Closes the master; the slave is hung up (its reads return end of file or EIO).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Libc.Close(MasterHandle);
        }
    }
}
