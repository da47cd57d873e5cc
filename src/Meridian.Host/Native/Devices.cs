using System.Runtime.InteropServices;

namespace Meridian.Host.Native;

/// <summary>
/// The calls and layouts reference clock devices need: a tty set raw (termios(3)), the Linux PPS API
/// (linux/pps.h, RFC 2783), SysV shared memory (shmget(2), shmat(2), shmctl(2)) and pseudo-terminals
/// (posix_openpt(3)). Values are those of x86_64 Linux with glibc.
/// </summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0;
    public const int O_RDWR = 2;
    public const int O_NOCTTY = 0x100;

    public const int ENOENT = 2;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int EBADF = 9;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOTTY = 25;
    public const int EROFS = 30;

    // termios(3) and asm-generic/termbits.h.
    public const int TCSANOW = 0;
    public const int TCIFLUSH = 0;
    public const int VTIME = 5;
    public const int VMIN = 6;
    public const uint IGNBRK = 0x1;
    public const uint IGNPAR = 0x4;
    public const uint IXOFF = 0x1000;
    public const uint CSTOPB = 0x40;
    public const uint CREAD = 0x80;
    public const uint CLOCAL = 0x800;
    public const uint CRTSCTS = 0x8000_0000;

    // linux/pps.h: _IOR/_IOW/_IOWR('p', 0xa1..0xa4, pointer), so the size field is 8 on a 64-bit kernel.
    public const uint PPS_GETPARAMS = 0x800870A1;
    public const uint PPS_SETPARAMS = 0x400870A2;
    public const uint PPS_GETCAP = 0x800870A3;
    public const uint PPS_FETCH = 0xC00870A4;
    public const int PPS_CAPTUREASSERT = 0x01;
    public const int PPS_CAPTURECLEAR = 0x02;
    public const int PPS_TSFMT_TSPEC = 0x1000;
    public const uint PPS_TIME_INVALID = 1;

    // sys/ipc.h.
    public const int IPC_CREAT = 0x200;
    public const int IPC_RMID = 0;
    public const int IPC_STAT = 2;

    /// <summary>struct termios of glibc (60 bytes): the four flag words, c_line, c_cc[32], then the two speeds.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Termios
    {
        public uint InputFlags;
        public uint OutputFlags;
        public uint ControlFlags;
        public uint LocalFlags;
        public byte Line;
        public fixed byte ControlCharacters[32];
        public uint InputSpeed;
        public uint OutputSpeed;
    }

    /// <summary>struct pps_ktime: a time as seconds and nanoseconds, with PPS_TIME_INVALID in the flags.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PpsKTime
    {
        public long Seconds;
        public int Nanoseconds;
        public uint Flags;
    }

    /// <summary>struct pps_kinfo (48 bytes): the sequence numbers and times of the last assert and clear edges.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PpsKInfo
    {
        public uint AssertSequence;
        public uint ClearSequence;
        public PpsKTime AssertTime;
        public PpsKTime ClearTime;
        public int CurrentMode;
    }

    /// <summary>struct pps_kparams (40 bytes): the capture mode and the offsets the kernel adds to each edge.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PpsKParams
    {
        public int ApiVersion;
        public int Mode;
        public PpsKTime AssertOffset;
        public PpsKTime ClearOffset;
    }

    /// <summary>struct pps_fdata (64 bytes): what PPS_FETCH fills, and how long it may wait for an edge.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PpsFData
    {
        public PpsKInfo Info;
        public PpsKTime Timeout;
    }

    /// <summary>
    /// struct shmid_ds (112 bytes). Only what is read is named: the mode of its ipc_perm (offset 20) and shm_segsz
    /// (offset 48).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 112)]
    public struct ShmidDs
    {
        [FieldOffset(20)]
        public ushort Mode;

        [FieldOffset(48)]
        public nuint SegmentSize;
    }

    // open(2) is variadic; the mode argument is read only with O_CREAT, which no device open passes.
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "isatty", SetLastError = true)]
    public static partial int IsATty(int fd);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    public static partial int TcGetAttr(int fd, Termios* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    public static partial int TcSetAttr(int fd, int actions, Termios* termios);

    [LibraryImport("libc", EntryPoint = "tcflush", SetLastError = true)]
    public static partial int TcFlush(int fd, int queue);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    public static partial void CfMakeRaw(Termios* termios);

    [LibraryImport("libc", EntryPoint = "cfsetispeed", SetLastError = true)]
    public static partial int CfSetISpeed(Termios* termios, uint speed);

    [LibraryImport("libc", EntryPoint = "cfsetospeed", SetLastError = true)]
    public static partial int CfSetOSpeed(Termios* termios, uint speed);

    [LibraryImport("libc", EntryPoint = "cfgetispeed")]
    public static partial uint CfGetISpeed(Termios* termios);

    [LibraryImport("libc", EntryPoint = "cfgetospeed")]
    public static partial uint CfGetOSpeed(Termios* termios);

    // ioctl(2) is variadic too; its one pointer argument travels in the same register either way.
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "shmget", SetLastError = true)]
    public static partial int ShmGet(int key, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "shmat", SetLastError = true)]
    public static partial void* ShmAt(int id, void* address, int flags);

    [LibraryImport("libc", EntryPoint = "shmdt", SetLastError = true)]
    public static partial int ShmDt(void* address);

    [LibraryImport("libc", EntryPoint = "shmctl", SetLastError = true)]
    public static partial int ShmCtl(int id, int command, ShmidDs* buffer);

    [LibraryImport("libc", EntryPoint = "posix_openpt", SetLastError = true)]
    public static partial int PosixOpenPt(int flags);

    [LibraryImport("libc", EntryPoint = "grantpt", SetLastError = true)]
    public static partial int GrantPt(int fd);

    [LibraryImport("libc", EntryPoint = "unlockpt", SetLastError = true)]
    public static partial int UnlockPt(int fd);

    /// <summary>The reentrant ptsname(3): it returns an errno, it does not set one.</summary>
    [LibraryImport("libc", EntryPoint = "ptsname_r")]
    public static partial int PtsNameR(int fd, byte* buffer, nuint length);
}
