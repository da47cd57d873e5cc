using Meridian.Protocol;

namespace Meridian.Protocol.Tests;

public sealed class NtpTimestampTests
{
    [Fact]
    public void Unix_epoch_is_2208988800_seconds_after_1900()
    {
        NtpTimestamp t = NtpTimestamp.FromUnixNanoseconds(0);
        Assert.Equal(2_208_988_800u, t.Seconds);
        Assert.Equal(0u, t.Fraction);
        Assert.Equal(0, t.ToUnixNanoseconds());
    }

    [Fact]
    public void Half_a_second_is_half_the_fraction_range()
    {
        NtpTimestamp t = NtpTimestamp.FromUnixNanoseconds(500_000_000);
        Assert.Equal(0x8000_0000u, t.Fraction);
        Assert.Equal("83aa7e80.80000000", t.ToString());
    }

    [Fact]
    public void Nanoseconds_round_trip_exactly_in_both_eras()
    {
        var random = new Random(5905);
        for (int i = 0; i < 100_000; i++)
        {
            // 1968-01-20 .. 2104-02-26, the range the default pivot covers.
            const long start = 2_147_483_648L - NtpTimestamp.UnixEpochOffsetSeconds;
            long ns = (start + random.NextInt64(0, 4_294_967_295L)) * 1_000_000_000L + random.NextInt64(0, 1_000_000_000L);
            Assert.Equal(ns, NtpTimestamp.FromUnixNanoseconds(ns).ToUnixNanoseconds());
        }
    }

    [Fact]
    public void Times_after_2036_land_in_era_1()
    {
        var utc = new DateTime(2040, 6, 1, 12, 0, 0, DateTimeKind.Utc);
        NtpTimestamp t = NtpTimestamp.FromDateTime(utc);
        Assert.True(t.Seconds < 0x8000_0000u, "era 1 timestamps have small seconds");
        Assert.Equal(utc, t.ToDateTime());
    }

    [Fact]
    public void The_era_boundary_is_2036_02_07_06_28_16()
    {
        var boundary = new DateTime(2036, 2, 7, 6, 28, 16, DateTimeKind.Utc);
        Assert.Equal(0UL, NtpTimestamp.FromDateTime(boundary).Value);
        Assert.Equal(0xFFFF_FFFFu, NtpTimestamp.FromDateTime(boundary.AddSeconds(-1)).Seconds);
    }

    [Fact]
    public void Differences_and_order_are_right_across_the_rollover()
    {
        var boundary = new DateTime(2036, 2, 7, 6, 28, 16, DateTimeKind.Utc);
        NtpTimestamp before = NtpTimestamp.FromDateTime(boundary.AddSeconds(-1.25));
        NtpTimestamp after = NtpTimestamp.FromDateTime(boundary.AddSeconds(0.75));
        Assert.Equal(2.0, (after - before).ToSeconds(), 9);
        Assert.Equal(-2.0, (before - after).ToSeconds(), 9);
        Assert.True(before.CompareTo(after) < 0);
        Assert.Equal(after, before + NtpDuration.FromSeconds(2));
    }

    [Fact]
    public void The_pivot_chooses_the_era()
    {
        NtpTimestamp t = new(0x0000_0010, 0);
        long era0Pivot = new DateTime(1901, 1, 1, 0, 0, 0, DateTimeKind.Utc).Subtract(DateTime.UnixEpoch).Ticks * 100;
        Assert.Equal(new DateTime(1900, 1, 1, 0, 0, 16, DateTimeKind.Utc), DateTime.UnixEpoch.AddTicks(t.ToUnixNanoseconds(era0Pivot) / 100));
        Assert.Equal(new DateTime(2036, 2, 7, 6, 28, 32, DateTimeKind.Utc), t.ToDateTime());
    }

    [Fact]
    public void Wire_encoding_is_big_endian()
    {
        var bytes = new byte[8];
        new NtpTimestamp(0x0102_0304, 0x0506_0708).Write(bytes);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, bytes);
        Assert.Equal(0x0102_0304_0506_0708UL, NtpTimestamp.Read(bytes).Value);
    }
}

public sealed class NtpDurationAndShortTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(-1.5)]
    [InlineData(-0.000_000_001)]
    [InlineData(1000.123456789)]
    public void Seconds_convert_both_ways(double seconds) =>
        Assert.Equal(seconds, NtpDuration.FromSeconds(seconds).ToSeconds(), 9);

    [Fact]
    public void Negative_durations_give_negative_nanoseconds()
    {
        Assert.Equal(-1_500_000_000, NtpDuration.FromSeconds(-1.5).ToNanoseconds());
        Assert.Equal(-1, NtpDuration.FromNanoseconds(-1).ToNanoseconds());
        Assert.Equal(123_456_789, NtpDuration.FromNanoseconds(123_456_789).ToNanoseconds());
    }

    [Fact]
    public void Seconds_saturate_instead_of_wrapping()
    {
        Assert.Equal(long.MaxValue, NtpDuration.FromSeconds(1e12).Raw);
        Assert.Equal(long.MinValue, NtpDuration.FromSeconds(-1e12).Raw);
    }

    [Fact]
    public void Short_format_rounds_up_and_saturates()
    {
        Assert.Equal(0x0001_0000u, NtpShort.FromSeconds(1.0).Raw);
        Assert.Equal(1u, NtpShort.FromSeconds(1e-9).Raw);
        Assert.Equal(uint.MaxValue, NtpShort.FromSeconds(1e6).Raw);
        Assert.Equal(0u, NtpShort.FromSeconds(-3).Raw);
        Assert.Equal(0.5, new NtpShort(0x8000).ToSeconds());
    }
}
