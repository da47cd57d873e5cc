using System.Buffers.Binary;

namespace Meridian.Protocol;

/// <summary>
/// The shared-memory segment of ntpd's SHM driver (type 28, <c>struct shmTime</c> in <c>refclock_shm.c</c>) as a
/// C compiler lays it out on x86_64 Linux: 64-bit <c>time_t</c> aligned to 8, hence the pads at 20 and 92, 96 bytes
/// in all, little-endian. gpsd, chronyd's writers and PTP bridges fill it; the host copies it out under ntpd's
/// count/valid protocol (the offsets are public for that) and this type decodes the copy.
/// </summary>
public readonly record struct ShmTime
{
    public const int Size = 96;

    public const int ModeOffset = 0;
    public const int CountOffset = 4;
    public const int ClockSecondsOffset = 8;
    public const int ClockMicrosecondsOffset = 16;
    public const int ReceiveSecondsOffset = 24;
    public const int ReceiveMicrosecondsOffset = 32;
    public const int LeapOffset = 36;
    public const int PrecisionOffset = 40;
    public const int SamplesOffset = 44;
    public const int ValidOffset = 48;
    public const int ClockNanosecondsOffset = 52;
    public const int ReceiveNanosecondsOffset = 56;

    /// <summary>Where <c>int dummy[8]</c> starts: spare words ntpd never reads (NTPsec and chrony use some).</summary>
    public const int DummyOffset = 60;

    public const int DummyLength = 8 * sizeof(int);

    private const long NanosecondsPerSecond = 1_000_000_000L;

    /// <summary>0: the reader clears <c>valid</c> after a read; 1: it also checks <c>count</c> did not change.</summary>
    public int Mode { get; init; }

    public int Count { get; init; }

    /// <summary>The reference clock's time (<c>clockTimeStampSec</c>), Unix seconds.</summary>
    public long ClockSeconds { get; init; }

    public int ClockMicroseconds { get; init; }

    public uint ClockNanoseconds { get; init; }

    /// <summary>The system clock when the reference time was taken (<c>receiveTimeStampSec</c>), Unix seconds.</summary>
    public long ReceiveSeconds { get; init; }

    public int ReceiveMicroseconds { get; init; }

    public uint ReceiveNanoseconds { get; init; }

    public int Leap { get; init; }

    public int Precision { get; init; }

    public int Samples { get; init; }

    public int Valid { get; init; }

    /// <summary>
    /// Whether the nanosecond fields are taken: ntpd (like gpsd's reader) uses them only when both extend their
    /// microsecond fields, <c>NSec − USec·1000 &lt; 1000</c> in unsigned arithmetic, since writers older than the
    /// nanosecond fields leave them zero or stale.
    /// </summary>
    public bool UsesNanoseconds =>
        unchecked(ClockNanoseconds - (uint)(ClockMicroseconds * 1000)) < 1000
        && unchecked(ReceiveNanoseconds - (uint)(ReceiveMicroseconds * 1000)) < 1000;

    /// <summary>The reference time (<c>clockTimeStamp</c>) as an NTP timestamp, by the rule of <see cref="UsesNanoseconds"/>.</summary>
    public NtpTimestamp ClockTime => ToTimestamp(ClockSeconds, UsesNanoseconds ? ClockNanoseconds : ClockMicroseconds * 1000L);

    /// <summary>The local time of the sample (<c>receiveTimeStamp</c>) as an NTP timestamp, by the same rule.</summary>
    public NtpTimestamp ReceiveTime => ToTimestamp(ReceiveSeconds, UsesNanoseconds ? ReceiveNanoseconds : ReceiveMicroseconds * 1000L);

    /// <summary>Decodes a copy of the segment; throws <see cref="ArgumentException"/> when it is shorter than <see cref="Size"/>.</summary>
    public static ShmTime Read(ReadOnlySpan<byte> segment)
    {
        if (segment.Length < Size)
        {
            throw new ArgumentException($"an SHM segment is {Size} bytes, got {segment.Length}", nameof(segment));
        }

        return new ShmTime
        {
            Mode = BinaryPrimitives.ReadInt32LittleEndian(segment[ModeOffset..]),
            Count = BinaryPrimitives.ReadInt32LittleEndian(segment[CountOffset..]),
            ClockSeconds = BinaryPrimitives.ReadInt64LittleEndian(segment[ClockSecondsOffset..]),
            ClockMicroseconds = BinaryPrimitives.ReadInt32LittleEndian(segment[ClockMicrosecondsOffset..]),
            ReceiveSeconds = BinaryPrimitives.ReadInt64LittleEndian(segment[ReceiveSecondsOffset..]),
            ReceiveMicroseconds = BinaryPrimitives.ReadInt32LittleEndian(segment[ReceiveMicrosecondsOffset..]),
            Leap = BinaryPrimitives.ReadInt32LittleEndian(segment[LeapOffset..]),
            Precision = BinaryPrimitives.ReadInt32LittleEndian(segment[PrecisionOffset..]),
            Samples = BinaryPrimitives.ReadInt32LittleEndian(segment[SamplesOffset..]),
            Valid = BinaryPrimitives.ReadInt32LittleEndian(segment[ValidOffset..]),
            ClockNanoseconds = BinaryPrimitives.ReadUInt32LittleEndian(segment[ClockNanosecondsOffset..]),
            ReceiveNanoseconds = BinaryPrimitives.ReadUInt32LittleEndian(segment[ReceiveNanosecondsOffset..]),
        };
    }

    /// <summary>
    /// Encodes every field in the layout above, with the pads and the spare words zeroed (what a writer that knows
    /// only this struct leaves there); throws <see cref="ArgumentException"/> when shorter than <see cref="Size"/>.
    /// </summary>
    public void Write(Span<byte> segment)
    {
        if (segment.Length < Size)
        {
            throw new ArgumentException($"an SHM segment is {Size} bytes, got {segment.Length}", nameof(segment));
        }

        segment[..Size].Clear();
        BinaryPrimitives.WriteInt32LittleEndian(segment[ModeOffset..], Mode);
        BinaryPrimitives.WriteInt32LittleEndian(segment[CountOffset..], Count);
        BinaryPrimitives.WriteInt64LittleEndian(segment[ClockSecondsOffset..], ClockSeconds);
        BinaryPrimitives.WriteInt32LittleEndian(segment[ClockMicrosecondsOffset..], ClockMicroseconds);
        BinaryPrimitives.WriteInt64LittleEndian(segment[ReceiveSecondsOffset..], ReceiveSeconds);
        BinaryPrimitives.WriteInt32LittleEndian(segment[ReceiveMicrosecondsOffset..], ReceiveMicroseconds);
        BinaryPrimitives.WriteInt32LittleEndian(segment[LeapOffset..], Leap);
        BinaryPrimitives.WriteInt32LittleEndian(segment[PrecisionOffset..], Precision);
        BinaryPrimitives.WriteInt32LittleEndian(segment[SamplesOffset..], Samples);
        BinaryPrimitives.WriteInt32LittleEndian(segment[ValidOffset..], Valid);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[ClockNanosecondsOffset..], ClockNanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[ReceiveNanosecondsOffset..], ReceiveNanoseconds);
    }

    /// <summary>
    /// Unix seconds and a nanosecond count of any size (a bad writer's microseconds may exceed a second) to NTP time,
    /// normalized the way ntpd's <c>tspec_stamp_to_lfp</c> does; only the low 32 bits of the NTP seconds survive,
    /// so the seconds are reduced modulo 2^32 first and no input can overflow.
    /// </summary>
    private static NtpTimestamp ToTimestamp(long unixSeconds, long nanoseconds)
    {
        long carry = Math.DivRem(nanoseconds, NanosecondsPerSecond, out long nanos);
        if (nanos < 0)
        {
            nanos += NanosecondsPerSecond;
            carry--;
        }

        long seconds = unchecked(unixSeconds + carry) & 0xFFFF_FFFFL;
        return NtpTimestamp.FromUnixNanoseconds(seconds * NanosecondsPerSecond + nanos);
    }
}
