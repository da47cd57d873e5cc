using System.Runtime.InteropServices;
using Meridian.Engine.Refclocks;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// A reference clock's serial line, opened non-blocking and, when it is a tty, set raw at a fixed speed, 8N1, with
/// no flow control and modem lines ignored (termios(3)), as a GPS or radio clock speaks. Anything else (a FIFO, a
/// file of captured sentences in tests) is read as it is.
/// </summary>
public sealed unsafe class SerialLine : IRefclockLine
{
    /// <summary>
    /// Whether this libc's cfsetispeed(3) takes the rate itself rather than a B-constant: glibc 2.42 made speed_t
    /// numeric, and a symbol looked up by name (<see cref="GlobalSymbols"/>) is the newest version. The old
    /// functions refuse 9600 (it is no B-constant), so one call on a scratch termios tells.
    /// </summary>
    private static readonly bool NumericSpeeds = ProbeNumericSpeeds();

    private readonly int _fd;
    private int _open = 1;
    private int _disposed;

    private SerialLine(int fd, string path, bool isTerminal)
    {
        _fd = fd;
        Path = path;
        IsTerminal = isTerminal;
    }

    public string Path { get; }

    /// <summary>The descriptor to poll; it stays open until <see cref="Dispose"/> even after the device went away.</summary>
    public int Handle => _fd;

    /// <summary>Whether the device is a tty (isatty(3)), and so was set raw at the requested speed.</summary>
    public bool IsTerminal { get; }

    /// <summary>False once a read found the device gone (or after <see cref="Dispose"/>).</summary>
    public bool IsOpen => Volatile.Read(ref _open) == 1;

    /// <summary>Why the line closed ("/dev/gps0: Input/output error"), for the log; null while it is open.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>
    /// Opens <paramref name="path"/> read-write (a tty needs it for tcsetattr on some drivers), never as the
    /// controlling terminal, non-blocking, close-on-exec; a tty is set raw at <paramref name="baud"/> and what it
    /// received before is discarded (it came at another speed).
    /// </summary>
    /// <exception cref="RefclockDeviceException">The path cannot be opened, the speed is not one of the supported ones, or the tty refused the settings.</exception>
    public static SerialLine Open(string path, int baud)
    {
        ArgumentNullException.ThrowIfNull(path);
        uint speed = SpeedCode(baud) ?? throw new RefclockDeviceException(Libc.EINVAL,
            $"{path}: unsupported speed {baud} (4800, 9600, 19200, 38400, 57600, 115200, 230400 or 460800)");

        int fd = Libc.Open(path, Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw RefclockDeviceException.LastError(path);
        }

        bool isTerminal = Libc.IsATty(fd) == 1;
        try
        {
            if (isTerminal)
            {
                SetRaw(fd, path, speed);
            }
        }
        catch
        {
            Libc.Close(fd);
            throw;
        }

        return new SerialLine(fd, path, isTerminal);
    }

    /// <summary>
    /// The speed_t value this libc's cfsetispeed(3) takes for <paramref name="baud"/>: the B-constant of
    /// asm-generic/termbits.h, or the rate itself from glibc 2.42 on; null for a rate not supported here.
    /// </summary>
    public static uint? SpeedCode(int baud)
    {
        uint? code = baud switch
        {
            4800 => 0x0C, // B4800
            9600 => 0x0D, // B9600
            19200 => 0x0E, // B19200
            38400 => 0x0F, // B38400
            57600 => 0x1001, // B57600
            115200 => 0x1002, // B115200
            230400 => 0x1003, // B230400
            460800 => 0x1004, // B460800
            _ => null,
        };
        return code is null ? null : NumericSpeeds ? (uint)baud : code;
    }

    /// <summary>
    /// Reads what is waiting, without waiting: the number of bytes read, 0 when nothing is waiting (EAGAIN), -1 when
    /// the device is gone (end of file, which a hung-up tty returns, or an error such as EIO or ENODEV), after which
    /// <see cref="IsOpen"/> is false.
    /// </summary>
    public int Read(Span<byte> buffer)
    {
        if (!IsOpen)
        {
            return -1;
        }

        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            nint read;
            fixed (byte* bytes = buffer)
            {
                read = Libc.Read(_fd, bytes, (nuint)buffer.Length);
            }

            if (read > 0)
            {
                return (int)read;
            }

            if (read == 0)
            {
                Gone("end of file");
                return -1;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EINTR)
            {
                continue;
            }

            if (errno == Libc.EAGAIN)
            {
                return 0;
            }

            Gone(Libc.ErrorText(errno));
            return -1;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Volatile.Write(ref _open, 0);
            CloseReason ??= $"{Path}: closed";
            Libc.Close(_fd);
        }
    }

    private void Gone(string reason)
    {
        CloseReason = $"{Path}: {reason}";
        Volatile.Write(ref _open, 0);
    }

    /// <summary>
    /// cfmakeraw(3) (no echo, no canonical input, no signals, 8 bits, no parity), then break and parity errors
    /// ignored, one stop bit, no RTS/CTS or XON/XOFF, CLOCAL (a receiver raises no DCD) and CREAD. VMIN=1, VTIME=0:
    /// with O_NONBLOCK a read never waits and an empty line gives EAGAIN, so that 0 means only end of file — with
    /// VMIN=0 the tty would return 0 for an empty line as well (n_tty_read) and a hang-up could not be told apart.
    /// </summary>
    private static void SetRaw(int fd, string path, uint speed)
    {
        Libc.Termios termios;
        if (Libc.TcGetAttr(fd, &termios) != 0)
        {
            throw RefclockDeviceException.LastError(path, "tcgetattr");
        }

        Libc.CfMakeRaw(&termios);
        termios.InputFlags = (termios.InputFlags | Libc.IGNBRK | Libc.IGNPAR) & ~Libc.IXOFF;
        termios.ControlFlags = (termios.ControlFlags | Libc.CLOCAL | Libc.CREAD) & ~(Libc.CSTOPB | Libc.CRTSCTS);
        termios.ControlCharacters[Libc.VMIN] = 1;
        termios.ControlCharacters[Libc.VTIME] = 0;
        if (Libc.CfSetISpeed(&termios, speed) != 0)
        {
            throw RefclockDeviceException.LastError(path, "cfsetispeed");
        }

        if (Libc.CfSetOSpeed(&termios, speed) != 0)
        {
            throw RefclockDeviceException.LastError(path, "cfsetospeed");
        }

        if (Libc.TcSetAttr(fd, Libc.TCSANOW, &termios) != 0)
        {
            throw RefclockDeviceException.LastError(path, "tcsetattr");
        }

        // Bytes that arrived before the speed was right are noise; a failed flush costs only that.
        Libc.TcFlush(fd, Libc.TCIFLUSH);
    }

    private static bool ProbeNumericSpeeds()
    {
        Libc.Termios scratch = default;
        return Libc.CfSetOSpeed(&scratch, 9600) == 0 && Libc.CfGetOSpeed(&scratch) == 9600;
    }
}
