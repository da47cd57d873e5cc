using System.Runtime.InteropServices;
using Meridian.Engine.Refclocks;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// A SysV shared-memory segment in the 96-byte layout of ntpd's SHM driver (refclock 28), which gpsd and chronyd
/// write: <c>mode</c> at 0, <c>count</c> at 4, <c>valid</c> at 48. Readers and writers in other processes agree only
/// through <c>count</c> and <c>valid</c>, so those are read and written with full barriers around the copy.
/// </summary>
public sealed unsafe class ShmSegment : IShmSegment
{
    /// <summary>Bytes of the layout (struct shmTime of ntpd, on a 64-bit host).</summary>
    public const int Size = 96;

    private const int ModeOffset = 0;
    private const int CountOffset = 4;
    private const int ValidOffset = 48;
    private const int OwnerOnlyMode = 0x180; // 0600
    private const int EveryoneMode = 0x1B6; // 0666

    private nint _address;

    private ShmSegment(int key, int id, byte* address)
    {
        Key = key;
        Id = id;
        _address = (nint)address;
    }

    public int Key { get; }

    /// <summary>The segment's identifier (shmget(2)), for shmctl(2).</summary>
    public int Id { get; }

    /// <summary>
    /// Attaches the segment <paramref name="key"/>, creating it when missing (and <paramref name="create"/>) with mode
    /// 0600 or 0666, as ntpd's driver does for units 0–1 and 2 and up; an existing segment keeps its mode.
    /// </summary>
    /// <exception cref="RefclockDeviceException">shmget(2) or shmat(2) refused, or the existing segment is too small.</exception>
    public static ShmSegment Attach(int key, bool ownerOnly, bool create = true)
    {
        string subject = Subject(key);
        int flags = (create ? Libc.IPC_CREAT : 0) | (ownerOnly ? OwnerOnlyMode : EveryoneMode);
        int id = Libc.ShmGet(key, Size, flags);
        if (id < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // EINVAL for an existing key means the segment is smaller than asked for (shmget(2)).
            if (errno == Libc.EINVAL && SegmentSize(key) is nuint existing)
            {
                throw new RefclockDeviceException(errno, $"{subject}: the existing segment has {existing} bytes, fewer" +
                    $" than the {Size} of ntpd's layout (remove it: ipcrm -M 0x{key:x8})");
            }

            if (errno == Libc.ENOENT)
            {
                throw new RefclockDeviceException(errno, $"{subject}: no such segment");
            }

            throw RefclockDeviceException.FromErrno(errno, subject, "shmget");
        }

        void* address = Libc.ShmAt(id, null, 0);
        if (address == (void*)-1)
        {
            throw RefclockDeviceException.LastError(subject, "shmat");
        }

        return new ShmSegment(key, id, (byte*)address);
    }

    /// <summary>Marks the segment <paramref name="key"/> for removal (IPC_RMID); nothing when there is none.</summary>
    /// <exception cref="RefclockDeviceException">It exists but cannot be removed (another user's).</exception>
    public static void Remove(int key)
    {
        int id = Libc.ShmGet(key, 0, 0);
        if (id < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.ENOENT)
            {
                return;
            }

            throw RefclockDeviceException.FromErrno(errno, Subject(key), "shmget");
        }

        if (Libc.ShmCtl(id, Libc.IPC_RMID, null) != 0)
        {
            throw RefclockDeviceException.LastError(Subject(key), "shmctl IPC_RMID");
        }
    }

    /// <summary>
    /// ntpd's reader: false (nothing copied, nothing cleared) unless <c>valid</c> is set; else <c>count</c>, a
    /// barrier, the 96 bytes into <paramref name="copy"/>, <c>valid</c> cleared, a barrier, <c>count</c> again. A
    /// writer that ran during the copy changed <c>count</c>, and the caller drops the sample.
    /// </summary>
    public bool TryRead(Span<byte> copy, out int countBefore, out int countAfter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(copy.Length, Size, nameof(copy));
        byte* segment = Address;
        countBefore = 0;
        countAfter = 0;
        if (Volatile.Read(ref *(int*)(segment + ValidOffset)) == 0)
        {
            return false;
        }

        countBefore = Volatile.Read(ref *(int*)(segment + CountOffset));
        Interlocked.MemoryBarrier();
        new ReadOnlySpan<byte>(segment, Size).CopyTo(copy);
        Volatile.Write(ref *(int*)(segment + ValidOffset), 0);
        Interlocked.MemoryBarrier();
        countAfter = Volatile.Read(ref *(int*)(segment + CountOffset));
        return true;
    }

    /// <summary>
    /// The writer's side of mode 1, as gpsd plays it: <c>valid</c> 0, <c>count</c> up, a barrier, the fields of
    /// <paramref name="segment"/> (its <c>mode</c> and everything after <c>count</c>, except <c>valid</c>), a
    /// barrier, <c>count</c> up again, <c>valid</c> 1. For tests and tools; the daemon only reads.
    /// </summary>
    public void Write(ReadOnlySpan<byte> segment)
    {
        if (segment.Length != Size)
        {
            throw new ArgumentException($"a segment is {Size} bytes, not {segment.Length}", nameof(segment));
        }

        byte* target = Address;
        ref int count = ref *(int*)(target + CountOffset);
        Volatile.Write(ref *(int*)(target + ValidOffset), 0);
        Interlocked.Increment(ref count);
        Interlocked.MemoryBarrier();
        segment.Slice(ModeOffset, 4).CopyTo(new Span<byte>(target + ModeOffset, 4));
        segment[8..ValidOffset].CopyTo(new Span<byte>(target + 8, ValidOffset - 8));
        segment[(ValidOffset + 4)..].CopyTo(new Span<byte>(target + ValidOffset + 4, Size - ValidOffset - 4));
        Interlocked.MemoryBarrier();
        Interlocked.Increment(ref count);
        Volatile.Write(ref *(int*)(target + ValidOffset), 1);
    }

    /// <summary>Detaches (shmdt(2)); the segment itself stays, for the writer and the next daemon.</summary>
    public void Dispose()
    {
        nint address = Interlocked.Exchange(ref _address, 0);
        if (address != 0)
        {
            Libc.ShmDt((void*)address);
        }
    }

    private byte* Address
    {
        get
        {
            nint address = Volatile.Read(ref _address);
            ObjectDisposedException.ThrowIf(address == 0, this);
            return (byte*)address;
        }
    }

    private static string Subject(int key) => $"shm 0x{key:x8}";

    /// <summary>shm_segsz of the segment <paramref name="key"/> (IPC_STAT), or null when it cannot be read.</summary>
    private static nuint? SegmentSize(int key)
    {
        int id = Libc.ShmGet(key, 0, 0);
        Libc.ShmidDs status;
        return id >= 0 && Libc.ShmCtl(id, Libc.IPC_STAT, &status) == 0 ? status.SegmentSize : null;
    }
}
