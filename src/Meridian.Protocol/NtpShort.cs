using System.Buffers.Binary;

namespace Meridian.Protocol;

/// <summary>
/// The 32-bit unsigned 16.16 format of root delay and root dispersion. It saturates instead of wrapping, since a
/// wrapped dispersion would turn the worst server into the best.
/// </summary>
public readonly struct NtpShort : IEquatable<NtpShort>
{
    private const double TwoTo16 = 65536.0;

    public NtpShort(uint raw) => Raw = raw;

    public uint Raw { get; }

    public static NtpShort Zero => default;

    public static NtpShort MaxValue => new(uint.MaxValue);

    public double ToSeconds() => Raw / TwoTo16;

    /// <summary>Converts seconds, rounding up (a dispersion must never be understated) and clamping to 0..65535.99998.</summary>
    public static NtpShort FromSeconds(double seconds)
    {
        if (double.IsNaN(seconds) || seconds <= 0)
        {
            return Zero;
        }

        double scaled = Math.Ceiling(seconds * TwoTo16);
        return scaled >= uint.MaxValue ? MaxValue : new NtpShort((uint)scaled);
    }

    public static NtpShort Read(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt32BigEndian(source));

    public void Write(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Raw);

    public static bool operator ==(NtpShort a, NtpShort b) => a.Raw == b.Raw;

    public static bool operator !=(NtpShort a, NtpShort b) => a.Raw != b.Raw;

    public bool Equals(NtpShort other) => Raw == other.Raw;

    public override bool Equals(object? obj) => obj is NtpShort other && Equals(other);

    public override int GetHashCode() => (int)Raw;

    public override string ToString() => ToSeconds().ToString("0.000000", System.Globalization.CultureInfo.InvariantCulture);
}
