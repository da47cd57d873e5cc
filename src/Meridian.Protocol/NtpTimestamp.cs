using System.Buffers.Binary;

namespace Meridian.Protocol;

/// <summary>
/// The 64-bit NTP timestamp (32 bits of seconds since 1900, 32 bits of fraction). It carries no era, so every
/// conversion to absolute time takes a pivot and picks the era that puts the result nearest to it (RFC 5905 §6);
/// differences are taken modulo 2^64, which stays right across the 2036 rollover.
/// </summary>
public readonly struct NtpTimestamp : IEquatable<NtpTimestamp>, IComparable<NtpTimestamp>
{
    /// <summary>Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01).</summary>
    public const long UnixEpochOffsetSeconds = 2_208_988_800;

    /// <summary>Bytes on the wire.</summary>
    public const int Size = 8;

    /// <summary>
    /// The default pivot: 2036-02-07 06:28:16 UTC, the start of era 1. Timestamps whose seconds have the top bit set
    /// fall in 1968–2036 (era 0), the others in 2036–2104 (era 1), the usual convention of NTP software.
    /// </summary>
    public const long DefaultPivotUnixNanoseconds = (0x1_0000_0000L - UnixEpochOffsetSeconds) * 1_000_000_000L;

    private const long NanosecondsPerSecond = 1_000_000_000L;

    public NtpTimestamp(ulong value) => Value = value;

    public NtpTimestamp(uint seconds, uint fraction) => Value = ((ulong)seconds << 32) | fraction;

    /// <summary>The raw 32.32 value.</summary>
    public ulong Value { get; }

    public uint Seconds => (uint)(Value >> 32);

    public uint Fraction => (uint)Value;

    /// <summary>Zero means "not set" on the wire (for example an origin timestamp before the first exchange).</summary>
    public bool IsZero => Value == 0;

    public static NtpTimestamp Zero => default;

    /// <summary>Converts Unix time in nanoseconds (negative before 1970) to an NTP timestamp, truncating to 2^-32 s.</summary>
    public static NtpTimestamp FromUnixNanoseconds(long unixNanoseconds)
    {
        long seconds = Math.DivRem(unixNanoseconds, NanosecondsPerSecond, out long nanos);
        if (nanos < 0)
        {
            nanos += NanosecondsPerSecond;
            seconds--;
        }

        ulong fraction = ((ulong)nanos << 32) / NanosecondsPerSecond;
        ulong ntpSeconds = unchecked((ulong)(seconds + UnixEpochOffsetSeconds)) & 0xFFFF_FFFF;
        return new NtpTimestamp((ntpSeconds << 32) | fraction);
    }

    /// <summary>Unix nanoseconds of the era that puts the result nearest to <paramref name="pivotUnixNanoseconds"/>.</summary>
    public long ToUnixNanoseconds(long pivotUnixNanoseconds)
    {
        long pivotNtpSeconds = Math.DivRem(pivotUnixNanoseconds, NanosecondsPerSecond, out long rem) + UnixEpochOffsetSeconds;
        if (rem < 0)
        {
            pivotNtpSeconds--;
        }

        // The era (a multiple of 2^32 s) that brings these seconds within half an era of the pivot.
        long era = (pivotNtpSeconds - Seconds + 0x8000_0000L) >> 32;
        long unixSeconds = (era << 32) + Seconds - UnixEpochOffsetSeconds;
        long nanos = (long)(((ulong)Fraction * NanosecondsPerSecond + 0x8000_0000UL) >> 32);
        return unixSeconds * NanosecondsPerSecond + nanos;
    }

    /// <summary>Unix nanoseconds using the default pivot (1968–2104).</summary>
    public long ToUnixNanoseconds() => ToUnixNanoseconds(DefaultPivotUnixNanoseconds);

    public static NtpTimestamp FromDateTime(DateTime utc)
    {
        if (utc.Kind == DateTimeKind.Local)
        {
            utc = utc.ToUniversalTime();
        }

        long ticks = utc.Ticks - DateTime.UnixEpoch.Ticks;
        return FromUnixNanoseconds(ticks * 100);
    }

    /// <summary>UTC time of the era nearest to the pivot, rounded to the 100 ns resolution of <see cref="DateTime"/>.</summary>
    public DateTime ToDateTime(DateTime pivotUtc)
    {
        long pivotNs = (pivotUtc.Ticks - DateTime.UnixEpoch.Ticks) * 100;
        return DateTime.UnixEpoch.AddTicks(ToUnixNanoseconds(pivotNs) / 100);
    }

    /// <summary>UTC time using the default pivot (1968–2104).</summary>
    public DateTime ToDateTime() => DateTime.UnixEpoch.AddTicks(ToUnixNanoseconds() / 100);

    public static NtpTimestamp Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt64BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, Value);

    /// <summary>The signed difference <c>a - b</c>, right whenever the two are less than 68 years apart.</summary>
    public static NtpDuration operator -(NtpTimestamp a, NtpTimestamp b) => NtpDuration.FromRaw(unchecked((long)(a.Value - b.Value)));

    public static NtpTimestamp operator +(NtpTimestamp a, NtpDuration d) => new(unchecked(a.Value + (ulong)d.Raw));

    public static NtpTimestamp operator -(NtpTimestamp a, NtpDuration d) => new(unchecked(a.Value - (ulong)d.Raw));

    public static bool operator ==(NtpTimestamp a, NtpTimestamp b) => a.Value == b.Value;

    public static bool operator !=(NtpTimestamp a, NtpTimestamp b) => a.Value != b.Value;

    public bool Equals(NtpTimestamp other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is NtpTimestamp other && Equals(other);

    public override int GetHashCode() => Value.GetHashCode();

    /// <summary>Orders by the signed difference, so that timestamps on either side of an era boundary compare right.</summary>
    public int CompareTo(NtpTimestamp other) => (this - other).Raw.CompareTo(0);

    /// <summary>The classic hexadecimal form, <c>e6d1ca6e.b1c9da3c</c>.</summary>
    public override string ToString() => $"{Seconds:x8}.{Fraction:x8}";
}
