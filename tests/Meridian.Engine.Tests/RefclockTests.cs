using System.Text;
using Meridian.Engine.Refclocks;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

/// <summary>Devices a test drives by hand: a serial line it writes to, a PPS source it pulses, a segment it fills.</summary>
internal sealed class FakeDevices : IRefclockDevices
{
    public RefclockDataHandler? Receive { get; private set; }

    public bool LinePresent { get; set; } = true;

    public PpsCapture? Edge { get; set; }

    public byte[] Segment { get; } = new byte[ShmTime.Size];

    public bool Tear { get; set; }

    public List<string> Opened { get; } = new();

    public IRefclockLine? OpenLine(string path, int baud, RefclockDataHandler receive, out string? error)
    {
        Opened.Add($"{path}@{baud}");
        error = LinePresent ? null : $"{path}: No such file or directory";
        Receive = LinePresent ? receive : null;
        return LinePresent ? new Line(this) : null;
    }

    public IPpsSource? OpenPps(string path, out string? error)
    {
        Opened.Add(path);
        error = null;
        return new Pps(this);
    }

    public IShmSegment? AttachShm(int key, bool ownerOnly, out string? error)
    {
        Opened.Add($"0x{key:X8}:{(ownerOnly ? "0600" : "0666")}");
        error = null;
        return new Shm(this);
    }

    private sealed class Line(FakeDevices d) : IRefclockLine
    {
        public bool IsOpen => d.LinePresent;

        public void Dispose()
        {
        }
    }

    private sealed class Pps(FakeDevices d) : IPpsSource
    {
        public bool IsOpen => true;

        public bool Configure(bool clearEdge, out string? error)
        {
            error = null;
            return true;
        }

        public bool TryFetch(out PpsCapture capture)
        {
            capture = d.Edge ?? default;
            return d.Edge is not null;
        }

        public void Dispose()
        {
        }
    }

    private sealed class Shm(FakeDevices d) : IShmSegment
    {
        public bool TryRead(Span<byte> copy, out int countBefore, out int countAfter)
        {
            countBefore = BitConverter.ToInt32(d.Segment, ShmTime.CountOffset);
            countAfter = countBefore + (d.Tear ? 2 : 0);
            if (BitConverter.ToInt32(d.Segment, ShmTime.ValidOffset) == 0)
            {
                return false;
            }

            d.Segment.CopyTo(copy);
            BitConverter.TryWriteBytes(d.Segment.AsSpan(ShmTime.ValidOffset), 0);
            return true;
        }

        public void Dispose()
        {
        }
    }
}

public sealed class RefclockSampleTests
{
    [Fact]
    public void The_median_filter_keeps_the_middle_sixty_percent_and_averages_it()
    {
        var samples = new RefclockSamples();
        // Ten samples around 1 ms and two far outliers: 12 samples keep 8 (12 − ⌊48/10⌋), the outliers go first.
        foreach (double s in new[] { 0.0010, 0.0011, 0.0009, 0.0010, 0.0012, 0.0008, 0.0010, 0.0011, 0.0009, 0.0010, 0.5, -0.3 })
        {
            samples.Add(s);
        }

        Assert.True(samples.TryTake(1e-9, out double offset, out double jitter));
        Assert.InRange(offset, 0.00095, 0.00105);
        Assert.InRange(jitter, 1e-6, 0.0001);
        Assert.Equal(0, samples.Count);
        Assert.False(samples.TryTake(1e-9, out _, out _));
    }

    [Fact]
    public void One_sample_is_its_own_median_and_the_jitter_is_floored_at_the_precision()
    {
        var samples = new RefclockSamples();
        samples.Add(-0.726);
        Assert.True(samples.TryTake(Math.Pow(2, -9), out double offset, out double jitter));
        Assert.Equal((-0.726, Math.Pow(2, -9)), (offset, jitter));
    }

    [Fact]
    public void The_ring_holds_sixty_three_and_forgets_the_oldest()
    {
        var samples = new RefclockSamples();
        for (int i = 0; i < 100; i++)
        {
            samples.Add(i < 37 ? 1.0 : 0.0);
        }

        Assert.Equal(63, samples.Count);
        Assert.True(samples.TryTake(0, out double offset, out _));
        Assert.Equal(0.0, offset);
    }
}

public sealed class NmeaDriverTests
{
    private static readonly DateTime Second = new(2026, 12, 2, 10, 0, 0, DateTimeKind.Utc);

    private static string Rmc(DateTime t, char status = 'A', string? date = null) =>
        Checksummed($"GPRMC,{t:HHmmss}.00,{status},4807.038,N,01131.000,E,022.4,084.4,{date ?? t.ToString("ddMMyy", System.Globalization.CultureInfo.InvariantCulture)},003.1,W");

    private static string Gga(DateTime t, int quality = 1) => Checksummed($"GNGGA,{t:HHmmss}.00,4807.038,N,01131.000,E,{quality},08,0.9,545.4,M,46.9,M,,");

    private static string Checksummed(string body)
    {
        byte sum = 0;
        foreach (char c in body)
        {
            sum ^= (byte)c;
        }

        return $"${body}*{sum:X2}";
    }

    private static (NmeaDriver Driver, FakeDevices Devices) Start(RefclockSettings settings)
    {
        var driver = new NmeaDriver(settings);
        var devices = new FakeDevices();
        driver.Second(devices, 0, NtpTimestamp.FromDateTime(Second), synchronized: false);
        return (driver, devices);
    }

    /// <summary>Sends a sentence that names second <paramref name="t"/> and arrives <paramref name="delay"/> after it.</summary>
    private static void Send(FakeDevices devices, string line, DateTime t, double delay) =>
        devices.Receive!(Encoding.ASCII.GetBytes(line + "\r\n"), NtpTimestamp.FromDateTime(t) + NtpDuration.FromSeconds(delay));

    [Fact]
    public void Seed_003s_mode_17_opens_dev_gps0_at_9600_and_takes_only_RMC_whose_offset_is_minus_the_serial_delay()
    {
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0) { Mode = 17 });
        Assert.Equal(["/dev/gps0@9600"], devices.Opened);
        for (int i = 0; i < 16; i++)
        {
            DateTime t = Second.AddSeconds(i);
            Send(devices, Rmc(t), t, 0.726 + (i % 3 - 1) * 0.002);
            Send(devices, Gga(t), t, 0.8);
        }

        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        Assert.InRange(offset, -0.7275, -0.7245);
        Assert.Equal(LeapIndicator.NoWarning, driver.Leap);
        Assert.Equal(NtpTimestamp.FromDateTime(Second.AddSeconds(15)), driver.ReferenceTime);
        Assert.StartsWith("$GPRMC,100015.00,A", driver.Timecode, StringComparison.Ordinal);
        Assert.Contains(("nmea_filtered", "16"), driver.Variables);
    }

    [Fact]
    public void Time2_takes_the_serial_delay_out()
    {
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0) { Mode = 17, Time2 = 0.726 });
        for (int i = 0; i < 5; i++)
        {
            Send(devices, Rmc(Second.AddSeconds(i)), Second.AddSeconds(i), 0.726);
        }

        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        Assert.InRange(offset, -1e-6, 1e-6);

        // The receiver falls silent: one timeout for the outage, not one per poll.
        Assert.False(driver.TryPoll(1e-9, out _, out _));
        Assert.False(driver.TryPoll(1e-9, out _, out _));
        Assert.Equal((1, 1, RefclockEvent.Timeout), (driver.Polls, driver.NoReply, driver.CurrentStatus));
    }

    [Fact]
    public void Invalid_fixes_bad_checksums_and_bad_times_are_counted_and_are_no_samples()
    {
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0));
        Send(devices, Rmc(Second, status: 'V'), Second, 0.1);
        Send(devices, Gga(Second.AddSeconds(1), quality: 0), Second.AddSeconds(1), 0.1);
        Send(devices, Rmc(Second.AddSeconds(2))[..^2] + "00", Second.AddSeconds(2), 0.1);
        Send(devices, Checksummed("GPRMC,256100.00,A,4807.038,N,01131.000,E,022.4,084.4,021226,003.1,W"), Second, 0.1);
        Send(devices, "$GPRMC,100003.00,A,4807.038,N,01131.000,E,022.4,084.4,021226,003.1,W", Second, 0.1);
        Send(devices, "garbage \x01\x02 line", Second, 0.1);

        Assert.Equal((5, 1), (driver.BadFormat, driver.BadData));
        Assert.Equal(0, driver.Samples.Count);
        Assert.False(driver.TryPoll(1e-9, out _, out _));
        // The clock is already in trouble (bad replies): the empty poll is not counted again as a timeout.
        Assert.Equal((0, RefclockEvent.BadReply), (driver.NoReply, driver.CurrentStatus));
    }

    [Fact]
    public void A_time_only_sentence_takes_the_date_of_the_last_dated_one_even_across_midnight()
    {
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0) { Mode = 2 | 1 });
        DateTime before = new(2026, 12, 2, 23, 59, 59, DateTimeKind.Utc);
        Send(devices, Rmc(before), before, 0.1);
        Assert.True(driver.TryPoll(1e-9, out _, out _));
        DateTime after = before.AddSeconds(1);
        Send(devices, Gga(after), after, 0.1);
        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        Assert.Equal(NtpTimestamp.FromDateTime(after), driver.ReferenceTime);
        Assert.InRange(offset, -0.1001, -0.0999);
    }

    [Fact]
    public void A_receiver_past_a_GPS_week_rollover_has_its_date_moved_1024_weeks_forward_unless_the_date_is_trusted()
    {
        DateTime reported = Second.AddDays(-7 * 1024);
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0));
        Send(devices, Rmc(reported), Second, 0.2);
        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        Assert.Equal(NtpTimestamp.FromDateTime(Second), driver.ReferenceTime);
        Assert.InRange(offset, -0.2001, -0.1999);

        (NmeaDriver trusting, FakeDevices devices2) = Start(new RefclockSettings(20, 0) { Mode = NmeaDriver.TrustDate });
        Send(devices2, Rmc(reported), Second, 0.2);
        Assert.True(trusting.TryPoll(1e-9, out _, out _));
        Assert.Equal(NtpTimestamp.FromDateTime(reported), trusting.ReferenceTime);
    }

    [Fact]
    public void With_flag1_the_pps_edge_gives_the_phase_and_the_sentence_the_second()
    {
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0) { Flags = 1, Time2 = 0.7 });
        Assert.Contains("/dev/gpspps0", devices.Opened);
        for (int i = 0; i < 8; i++)
        {
            DateTime t = Second.AddSeconds(i);
            // The pulse comes 3 µs after the true second by our clock; the sentence 0.72–0.73 s later (jittery).
            devices.Edge = new PpsCapture((uint)i + 1, NtpTimestamp.FromDateTime(t) + NtpDuration.FromSeconds(0.000003));
            Send(devices, Rmc(t), t, 0.72 + i % 2 * 0.01);
        }

        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        Assert.InRange(offset, -0.0000031, -0.0000029);
        Assert.True(driver.PpsActive);
        Assert.Equal(-20, driver.Precision);

        // Without edges the serial time serves again, and the association is no PPS peer at the next poll.
        devices.Edge = null;
        for (int i = 8; i < 12; i++)
        {
            Send(devices, Rmc(Second.AddSeconds(i)), Second.AddSeconds(i), 0.72);
        }

        Assert.True(driver.TryPoll(1e-9, out offset, out _));
        Assert.False(driver.PpsActive);
        Assert.InRange(offset, -0.0201, -0.0199);
    }

    [Fact]
    public void Flag4_hides_the_position_in_the_timecode()
    {
        (NmeaDriver driver, FakeDevices devices) = Start(new RefclockSettings(20, 0) { Flags = 8 });
        Send(devices, Rmc(Second), Second, 0.1);
        Assert.DoesNotContain("4807.038", driver.Timecode, StringComparison.Ordinal);
        Assert.StartsWith("$GPRMC,100000.00,A,", driver.Timecode, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_device_is_a_fault_logged_once_and_tried_again_every_few_seconds()
    {
        var driver = new NmeaDriver(new RefclockSettings(20, 1) { Path = "/dev/ttyUSB0" });
        var log = new List<string>();
        driver.Log = log.Add;
        var devices = new FakeDevices { LinePresent = false };
        for (int s = 0; s < 12; s++)
        {
            driver.Second(devices, s, NtpTimestamp.FromDateTime(Second.AddSeconds(s)), false);
        }

        Assert.Equal(["/dev/ttyUSB0@4800", "/dev/ttyUSB0@4800", "/dev/ttyUSB0@4800"], devices.Opened);
        Assert.Equal(["GPS_NMEA(1): /dev/ttyUSB0: No such file or directory; trying again every 5 s"], log);
        Assert.Equal(RefclockEvent.Fault, driver.CurrentStatus);
        devices.LinePresent = true;
        driver.Second(devices, 15, NtpTimestamp.FromDateTime(Second.AddSeconds(15)), false);
        Assert.Equal("GPS_NMEA(1): /dev/ttyUSB0 opened at 4800 bps", log[^1]);
    }
}

public sealed class ShmDriverTests
{
    private static readonly NtpTimestamp Now = NtpTimestamp.FromDateTime(new DateTime(2026, 12, 2, 10, 0, 0, DateTimeKind.Utc));

    private static void Write(FakeDevices devices, double reference, double local, int mode = 1, int leap = 0, int count = 2)
    {
        long r = (Now + NtpDuration.FromSeconds(reference)).ToUnixNanoseconds();
        long l = (Now + NtpDuration.FromSeconds(local)).ToUnixNanoseconds();
        new ShmTime
        {
            Mode = mode, Count = count, Valid = 1, Leap = leap, Precision = -20,
            ClockSeconds = r / 1_000_000_000, ClockMicroseconds = (int)(r % 1_000_000_000 / 1000), ClockNanoseconds = (uint)(r % 1_000_000_000),
            ReceiveSeconds = l / 1_000_000_000, ReceiveMicroseconds = (int)(l % 1_000_000_000 / 1000), ReceiveNanoseconds = (uint)(l % 1_000_000_000),
        }.Write(devices.Segment);
    }

    [Fact]
    public void Units_0_and_1_are_owner_only_and_a_sample_is_reference_minus_local_plus_time1()
    {
        var driver = new ShmDriver(new RefclockSettings(28, 0) { Time1 = 0.001 });
        var devices = new FakeDevices();
        Write(devices, reference: 0, local: 0.2);
        driver.Second(devices, 0, Now + NtpDuration.FromSeconds(0.3), true);
        Assert.Equal(["0x4E545030:0600"], devices.Opened);
        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        Assert.InRange(offset, -0.199001, -0.198999);
        Assert.Equal(-20, driver.Precision);
        Assert.StartsWith("2026-12-02T10:00:00.000", driver.Timecode, StringComparison.Ordinal);

        var world = new ShmDriver(new RefclockSettings(28, 2));
        world.Second(devices, 0, Now, true);
        Assert.Equal("0x4E545032:0666", devices.Opened[^1]);
    }

    [Fact]
    public void Torn_stale_far_and_unsynchronized_samples_are_refused_and_counted()
    {
        var driver = new ShmDriver(new RefclockSettings(28, 0));
        var devices = new FakeDevices();
        double t = 0;
        void Tick(double age)
        {
            t++;
            driver.Second(devices, t, Now + NtpDuration.FromSeconds(age), true);
        }

        devices.Tear = true;
        Write(devices, 0, 0);
        Tick(0.5);
        devices.Tear = false;
        Write(devices, 0, 0);
        Tick(9);
        Write(devices, 5 * 3600, 0);
        Tick(0.5);
        Tick(0.5);
        Write(devices, 0, 0, mode: 7);
        Tick(0.5);
        Write(devices, 0, 0, leap: 3);
        Tick(0.5);

        Assert.Equal(0, driver.Samples.Count);
        Assert.Contains(("shm_clash", "1"), driver.Variables);
        Assert.Contains(("shm_bad", "3"), driver.Variables);
        Assert.Contains(("shm_notready", "1"), driver.Variables);
        Assert.Equal(LeapIndicator.Unsynchronized, driver.Leap);

        // flag1 lifts the 4-hour limit.
        var lifted = new ShmDriver(new RefclockSettings(28, 0) { Flags = 1 });
        Write(devices, 5 * 3600, 0);
        lifted.Second(devices, 0, Now + NtpDuration.FromSeconds(0.5), true);
        Assert.Equal(1, lifted.Samples.Count);
    }
}

public sealed class PpsDriverTests
{
    private static readonly NtpTimestamp Second = NtpTimestamp.FromDateTime(new DateTime(2026, 12, 2, 10, 0, 0, DateTimeKind.Utc));

    [Fact]
    public void The_edge_is_measured_against_the_nearest_second_only_while_the_clock_is_synchronized()
    {
        var driver = new PpsDriver(new RefclockSettings(22, 0) { Time1 = 0.000010 });
        var devices = new FakeDevices();
        uint sequence = 0;
        void Pulse(double at, bool synchronized, int s)
        {
            devices.Edge = new PpsCapture(++sequence, Second + NtpDuration.FromSeconds(s + at));
            driver.Second(devices, s, Second + NtpDuration.FromSeconds(s + 0.5), synchronized);
        }

        Pulse(0.000025, synchronized: true, 0); // the first capture is dropped
        Pulse(0.000025, synchronized: false, 1);
        Assert.Equal(0, driver.Samples.Count);
        Pulse(0.000025, true, 2);
        Pulse(-0.000005 + 1, true, 3);
        Pulse(0.45, true, 4); // outside the aperture
        Assert.Equal(1, driver.BadData);
        Assert.Equal(["/dev/pps0"], devices.Opened);
        Assert.True(driver.TryPoll(1e-9, out double offset, out _));
        // After time1 the edges are 15 µs late and 15 µs early: their mean is 0.
        Assert.InRange(offset, -0.0000001, 0.0000001);
        Assert.True(driver.PpsActive);
    }
}
