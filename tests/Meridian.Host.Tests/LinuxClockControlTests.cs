using Meridian.Host;
using Meridian.Host.Native;

namespace Meridian.Host.Tests;

/// <summary>Records clock_adjtime calls instead of making them: this machine's clock is never touched.</summary>
internal sealed class RecordingKernelClock : IKernelClockCalls
{
    public List<Timex> Calls { get; } = new();

    public int Status { get; set; } = Timex.StaUnsync | Timex.StaPll | Timex.StaNano;

    public int ClockAdjTime(ref Timex timex)
    {
        Calls.Add(timex);
        if (timex.Modes == 0)
        {
            timex.Status = Status;
        }

        return 0;
    }
}

public sealed class LinuxClockControlTests
{
    [Theory]
    [InlineData(1.5, 1, 500_000_000)]
    [InlineData(-0.25, -1, 750_000_000)]
    [InlineData(-2000.000000001, -2001, 999_999_999)]
    public void Steps_use_adj_setoffset_in_nanoseconds(double seconds, long wholeSeconds, long nanoseconds)
    {
        var kernel = new RecordingKernelClock();
        new LinuxClockControl(kernel).Step(seconds);
        Timex call = Assert.Single(kernel.Calls);
        Assert.Equal(Timex.AdjSetOffset | Timex.AdjNano, call.Modes);
        Assert.Equal((wholeSeconds, nanoseconds), (call.TimeSeconds, call.TimeFraction));
    }

    [Theory]
    [InlineData(12.5e-6, 819_200)]
    [InlineData(-1e-9, -66)]
    [InlineData(600e-6, 500 * 65536)]
    public void Frequency_is_ppm_scaled_by_65536_and_clamped_to_500_ppm(double secondsPerSecond, long expected)
    {
        var kernel = new RecordingKernelClock();
        new LinuxClockControl(kernel).SetFrequency(secondsPerSecond);
        Timex call = Assert.Single(kernel.Calls);
        Assert.Equal(Timex.AdjFrequency, call.Modes);
        Assert.Equal(expected, call.Freq);
    }

    [Fact]
    public void Synchronization_clears_sta_unsync_and_the_kernel_pll()
    {
        var kernel = new RecordingKernelClock();
        var control = new LinuxClockControl(kernel);
        control.MarkSynchronized(0.010, 0.0002);
        Assert.Equal(2, kernel.Calls.Count);
        Timex write = kernel.Calls[1];
        Assert.Equal(Timex.AdjStatus | Timex.AdjMaxError | Timex.AdjEstError, write.Modes);
        Assert.Equal(Timex.StaNano, write.Status);
        Assert.Equal((10_000L, 200L), (write.MaxError, write.EstError));
        Assert.True(control.IsMarkedSynchronized);
    }

    [Theory]
    [InlineData(Meridian.Protocol.LeapIndicator.AddSecond, Timex.StaIns)]
    [InlineData(Meridian.Protocol.LeapIndicator.DeleteSecond, Timex.StaDel)]
    [InlineData(Meridian.Protocol.LeapIndicator.NoWarning, 0)]
    public void A_leap_second_is_armed_with_sta_ins_or_sta_del_keeping_other_bits(Meridian.Protocol.LeapIndicator leap, int flag)
    {
        var kernel = new RecordingKernelClock { Status = Timex.StaNano | Timex.StaDel | Timex.StaIns };
        new LinuxClockControl(kernel).SetLeap(leap);
        Assert.Equal(2, kernel.Calls.Count);
        Timex write = kernel.Calls[1];
        Assert.Equal(Timex.AdjStatus, write.Modes);
        Assert.Equal(Timex.StaNano | flag, write.Status);
    }

    [Fact]
    public unsafe void Timex_has_the_kernel_size() => Assert.Equal(208, sizeof(Timex));
}
