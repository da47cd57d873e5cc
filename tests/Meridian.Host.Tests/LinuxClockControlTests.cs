using Meridian.Host;
using Meridian.Host.Native;

namespace Meridian.Host.Tests;

/// <summary>Records clock_adjtime calls instead of making them: this machine's clock is never touched.</summary>
public sealed class RecordingKernelClock : IKernelClockCalls
{
    public List<Timex> Calls { get; } = new();

    public int Status { get; set; } = Timex.StaUnsync | Timex.StaPll | Timex.StaNano;

    /// <summary>What writes return: 0, or a negative errno (-1, EPERM, as after -u without CAP_SYS_TIME).</summary>
    public int WriteResult { get; set; }

    public int ClockAdjTime(ref Timex timex)
    {
        Calls.Add(timex);
        if (timex.Modes != 0 && WriteResult < 0)
        {
            return WriteResult;
        }

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
    public void Every_synchronized_update_refreshes_the_error_bounds_and_losing_sync_sets_sta_unsync()
    {
        var kernel = new RecordingKernelClock();
        var control = new LinuxClockControl(kernel);
        control.SetStatus(true, 0.010, 0.0002);
        control.SetStatus(true, 0.012, 0.0003);
        Assert.Equal(4, kernel.Calls.Count);
        Timex first = kernel.Calls[1];
        Timex second = kernel.Calls[3];
        Assert.Equal(Timex.AdjStatus | Timex.AdjMaxError | Timex.AdjEstError, first.Modes);
        Assert.Equal(Timex.StaNano, first.Status);
        Assert.Equal((10_000L, 200L), (first.MaxError, first.EstError));
        // The kernel adds 500 µs to maxerror each second: the second update brings it back to what the daemon knows.
        Assert.Equal((12_000L, 300L), (second.MaxError, second.EstError));
        Assert.True(control.IsMarkedSynchronized);

        kernel.Status = Timex.StaNano;
        control.SetStatus(false, 16, 16);
        Timex lost = kernel.Calls[^1];
        Assert.Equal(Timex.StaNano | Timex.StaUnsync, lost.Status);
        Assert.Equal(16_000_000L, lost.MaxError);
        Assert.False(control.IsMarkedSynchronized);
    }

    [Fact]
    public void A_refused_clock_call_is_counted_and_logged_not_swallowed()
    {
        var kernel = new RecordingKernelClock { WriteResult = -1 };
        var text = new StringWriter();
        using var log = Log.ToWriter("ntpd", text);
        var control = new LinuxClockControl(kernel, log);
        for (int i = 0; i < 5; i++)
        {
            control.SetFrequency(1e-6);
        }

        control.Step(0.5);
        Assert.Equal(6, control.Failures);
        Assert.Equal(-1, control.LastError);
        string[] lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Logged once per kind of failure, not once a second.
        Assert.Equal(2, lines.Length);
        Assert.Contains("clock_adjtime (frequency) failed: Operation not permitted; 1 clock call(s) refused so far", lines[0], StringComparison.Ordinal);
        Assert.Contains("clock_adjtime (step) failed: Operation not permitted; 6 clock call(s) refused so far", lines[1], StringComparison.Ordinal);
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

    [Fact]
    public void The_tai_offset_goes_to_the_kernel_with_adj_tai_in_the_constant_field()
    {
        var kernel = new RecordingKernelClock();
        Assert.True(new LinuxClockControl(kernel).SetTaiOffset(37));
        Timex call = Assert.Single(kernel.Calls);
        Assert.Equal((Timex.AdjTai, 37L), (call.Modes, call.Constant));

        // Refused (EPERM, as under MERIDIAN_FORBID_CLOCK_WRITES=1): false, so the engine tries again.
        kernel.WriteResult = -1;
        Assert.False(new LinuxClockControl(kernel).SetTaiOffset(37));
    }
}
