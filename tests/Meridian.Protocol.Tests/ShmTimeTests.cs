using System.Buffers.Binary;
using Meridian.Protocol;

namespace Meridian.Protocol.Tests;

public sealed class ShmTimeTests
{
    private static readonly ShmTime Sample = new()
    {
        Mode = 1,
        Count = 42,
        ClockSeconds = 1_795_000_000,
        ClockMicroseconds = 123_456,
        ClockNanoseconds = 123_456_789,
        ReceiveSeconds = 1_795_000_001,
        ReceiveMicroseconds = 654_321,
        ReceiveNanoseconds = 654_321_987,
        Leap = 0,
        Precision = -20,
        Samples = 3,
        Valid = 1,
    };

    [Fact]
    public void The_offsets_are_those_of_struct_shmTime_on_x86_64()
    {
        Assert.Equal(96, ShmTime.Size);
        Assert.Equal(
            [0, 4, 8, 16, 24, 32, 36, 40, 44, 48, 52, 56, 60],
            new[]
            {
                ShmTime.ModeOffset, ShmTime.CountOffset, ShmTime.ClockSecondsOffset, ShmTime.ClockMicrosecondsOffset, ShmTime.ReceiveSecondsOffset,
                ShmTime.ReceiveMicrosecondsOffset, ShmTime.LeapOffset, ShmTime.PrecisionOffset, ShmTime.SamplesOffset, ShmTime.ValidOffset,
                ShmTime.ClockNanosecondsOffset, ShmTime.ReceiveNanosecondsOffset, ShmTime.DummyOffset,
            });
        Assert.Equal(92, ShmTime.DummyOffset + ShmTime.DummyLength);
    }

    [Fact]
    public void Read_decodes_a_segment_laid_out_by_hand()
    {
        var segment = new byte[ShmTime.Size];
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(0), 1);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(4), 42);
        BinaryPrimitives.WriteInt64LittleEndian(segment.AsSpan(8), 1_795_000_000);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(16), 123_456);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(20), -1); // padding: ignored
        BinaryPrimitives.WriteInt64LittleEndian(segment.AsSpan(24), 1_795_000_001);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(32), 654_321);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(36), 0);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(40), -20);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(44), 3);
        BinaryPrimitives.WriteInt32LittleEndian(segment.AsSpan(48), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(52), 123_456_789);
        BinaryPrimitives.WriteUInt32LittleEndian(segment.AsSpan(56), 654_321_987);
        segment.AsSpan(60, 36).Fill(0xEE); // dummy[8] and the tail pad: ignored
        Assert.Equal(Sample, ShmTime.Read(segment));
    }

    [Fact]
    public void Write_then_Read_round_trips_and_zeroes_the_pads()
    {
        var segment = new byte[ShmTime.Size + 4];
        segment.AsSpan().Fill(0xAA);
        Sample.Write(segment);
        Assert.Equal(Sample, ShmTime.Read(segment));
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(segment.AsSpan(20)));
        Assert.All(segment[60..96], b => Assert.Equal(0, b));
        Assert.All(segment[96..], b => Assert.Equal(0xAA, b));
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(segment.AsSpan(ShmTime.ValidOffset)));
        Assert.Equal(42, BinaryPrimitives.ReadInt32LittleEndian(segment.AsSpan(ShmTime.CountOffset)));
    }

    [Fact]
    public void Random_segments_round_trip()
    {
        var random = new Random(28);
        var bytes = new byte[ShmTime.Size];
        var again = new byte[ShmTime.Size];
        for (int i = 0; i < 1_000; i++)
        {
            random.NextBytes(bytes);
            ShmTime t = ShmTime.Read(bytes);
            t.Write(again);
            Assert.Equal(t, ShmTime.Read(again));
            _ = t.ClockTime;
            _ = t.ReceiveTime;
        }
    }

    [Fact]
    public void A_short_segment_is_an_argument_error()
    {
        Assert.Throws<ArgumentException>(() => ShmTime.Read(new byte[ShmTime.Size - 1]));
        Assert.Throws<ArgumentException>(() => Sample.Write(new byte[ShmTime.Size - 1]));
    }

    [Fact]
    public void Nanoseconds_are_used_when_both_extend_their_microseconds()
    {
        Assert.True(Sample.UsesNanoseconds);
        Assert.Equal(1_795_000_000_123_456_789L, Sample.ClockTime.ToUnixNanoseconds());
        Assert.Equal(1_795_000_001_654_321_987L, Sample.ReceiveTime.ToUnixNanoseconds());
        Assert.Equal(NtpTimestamp.FromUnixNanoseconds(1_795_000_000_123_456_789L), Sample.ClockTime);
    }

    [Fact]
    public void Writers_without_nanoseconds_get_microseconds()
    {
        ShmTime old = Sample with { ClockNanoseconds = 0, ReceiveNanoseconds = 0 };
        Assert.False(old.UsesNanoseconds);
        Assert.Equal(1_795_000_000_123_456_000L, old.ClockTime.ToUnixNanoseconds());
        Assert.Equal(1_795_000_001_654_321_000L, old.ReceiveTime.ToUnixNanoseconds());
    }

    [Fact]
    public void Nanoseconds_a_microsecond_or_more_away_are_ignored()
    {
        // Exactly 1000 ns past USec·1000 is no longer a truncation of the same instant.
        ShmTime ahead = Sample with { ClockNanoseconds = 123_457_000 };
        Assert.False(ahead.UsesNanoseconds);
        Assert.Equal(1_795_000_000_123_456_000L, ahead.ClockTime.ToUnixNanoseconds());
        ShmTime edge = Sample with { ClockNanoseconds = 123_456_999 };
        Assert.True(edge.UsesNanoseconds);
        Assert.Equal(1_795_000_000_123_456_999L, edge.ClockTime.ToUnixNanoseconds());
        // Below USec·1000 the unsigned difference is huge.
        Assert.False((Sample with { ClockNanoseconds = 123_455_999 }).UsesNanoseconds);
    }

    [Fact]
    public void One_stale_nanosecond_field_makes_both_fall_back_as_in_ntpd()
    {
        ShmTime t = Sample with { ReceiveNanoseconds = 0 };
        Assert.False(t.UsesNanoseconds);
        Assert.Equal(1_795_000_000_123_456_000L, t.ClockTime.ToUnixNanoseconds());
        Assert.Equal(1_795_000_001_654_321_000L, t.ReceiveTime.ToUnixNanoseconds());
    }

    [Fact]
    public void Out_of_range_microseconds_are_normalized_into_the_seconds()
    {
        ShmTime t = new() { ClockSeconds = 1_795_000_000, ClockMicroseconds = 2_500_000, ReceiveSeconds = 1_795_000_000, ReceiveMicroseconds = -1 };
        Assert.False(t.UsesNanoseconds);
        Assert.Equal(1_795_000_002_500_000_000L, t.ClockTime.ToUnixNanoseconds());
        Assert.Equal(1_794_999_999_999_999_000L, t.ReceiveTime.ToUnixNanoseconds());
    }

    [Fact]
    public void Extreme_seconds_keep_their_low_32_bits_of_NTP_time()
    {
        ShmTime t = new() { ClockSeconds = long.MaxValue, ClockMicroseconds = int.MaxValue, ReceiveSeconds = long.MinValue, ReceiveMicroseconds = int.MinValue };
        Assert.Equal(unchecked((uint)(long.MaxValue + 2147 + NtpTimestamp.UnixEpochOffsetSeconds)), t.ClockTime.Seconds);
        Assert.Equal(unchecked((uint)(long.MinValue - 2148 + NtpTimestamp.UnixEpochOffsetSeconds)), t.ReceiveTime.Seconds);
    }

    [Fact]
    public void Times_after_2036_land_in_NTP_era_1()
    {
        long unix2040 = new DateTimeOffset(2040, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();
        ShmTime t = new() { ClockSeconds = unix2040, ReceiveSeconds = unix2040 };
        Assert.Equal(unix2040 * 1_000_000_000L, t.ClockTime.ToUnixNanoseconds());
        Assert.True(t.ClockTime.Seconds < 0x8000_0000u);
    }
}
