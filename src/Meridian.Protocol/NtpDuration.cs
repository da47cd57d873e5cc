namespace Meridian.Protocol;

/// <summary>
/// A signed interval in NTP's 32.32 fixed point: what the difference of two <see cref="NtpTimestamp"/>s is. Keeping
/// offsets and delays in fixed point until the last step avoids the rounding that doubles add to sub-nanosecond
/// arithmetic.
/// </summary>
public readonly struct NtpDuration : IEquatable<NtpDuration>, IComparable<NtpDuration>
{
    private const double TwoTo32 = 4294967296.0;

    private NtpDuration(long raw) => Raw = raw;

    /// <summary>Signed 32.32 seconds.</summary>
    public long Raw { get; }

    public static NtpDuration Zero => default;

    public static NtpDuration FromRaw(long raw) => new(raw);

    /// <summary>Converts seconds, saturating at ±2^31 s.</summary>
    public static NtpDuration FromSeconds(double seconds)
    {
        double scaled = seconds * TwoTo32;
        if (double.IsNaN(scaled))
        {
            return Zero;
        }

        if (scaled >= long.MaxValue)
        {
            return new NtpDuration(long.MaxValue);
        }

        return scaled <= long.MinValue ? new NtpDuration(long.MinValue) : new NtpDuration((long)Math.Round(scaled));
    }

    public static NtpDuration FromNanoseconds(long nanoseconds)
    {
        long seconds = Math.DivRem(nanoseconds, 1_000_000_000L, out long nanos);
        if (nanos < 0)
        {
            nanos += 1_000_000_000L;
            seconds--;
        }

        long fraction = (long)(((ulong)nanos << 32) / 1_000_000_000UL);
        return new NtpDuration(unchecked((seconds << 32) + fraction));
    }

    public double ToSeconds() => Raw / TwoTo32;

    /// <summary>Nanoseconds, rounded to nearest.</summary>
    public long ToNanoseconds()
    {
        long seconds = Raw >> 32;
        long fraction = Raw & 0xFFFF_FFFFL;
        return seconds * 1_000_000_000L + (long)(((ulong)fraction * 1_000_000_000UL + 0x8000_0000UL) >> 32);
    }

    public NtpDuration Abs() => Raw < 0 ? new NtpDuration(unchecked(-Raw)) : this;

    /// <summary>Half the interval, rounding toward negative infinity (the on-wire offset divides a sum by two).</summary>
    public NtpDuration Half() => new(Raw >> 1);

    public static NtpDuration operator +(NtpDuration a, NtpDuration b) => new(unchecked(a.Raw + b.Raw));

    public static NtpDuration operator -(NtpDuration a, NtpDuration b) => new(unchecked(a.Raw - b.Raw));

    public static NtpDuration operator -(NtpDuration a) => new(unchecked(-a.Raw));

    public static bool operator <(NtpDuration a, NtpDuration b) => a.Raw < b.Raw;

    public static bool operator >(NtpDuration a, NtpDuration b) => a.Raw > b.Raw;

    public static bool operator <=(NtpDuration a, NtpDuration b) => a.Raw <= b.Raw;

    public static bool operator >=(NtpDuration a, NtpDuration b) => a.Raw >= b.Raw;

    public static bool operator ==(NtpDuration a, NtpDuration b) => a.Raw == b.Raw;

    public static bool operator !=(NtpDuration a, NtpDuration b) => a.Raw != b.Raw;

    public bool Equals(NtpDuration other) => Raw == other.Raw;

    public override bool Equals(object? obj) => obj is NtpDuration other && Equals(other);

    public override int GetHashCode() => Raw.GetHashCode();

    public int CompareTo(NtpDuration other) => Raw.CompareTo(other.Raw);

    public override string ToString() => ToSeconds().ToString("+0.000000000;-0.000000000", System.Globalization.CultureInfo.InvariantCulture) + " s";
}
