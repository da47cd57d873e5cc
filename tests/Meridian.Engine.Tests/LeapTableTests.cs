using System.Net;
using System.Text;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

public sealed class LeapTableTests
{
    /// <summary>2017-01-01 00:00:00 UTC in NTP seconds: TAI − UTC became 37 there (the 2016-12-31 insertion).</summary>
    internal const long Leap2016 = 3692217600;

    /// <summary>The tail of tzdata's leap-seconds.list (updated 2025-07-07, expires 2026-06-28).</summary>
    internal static LeapTable Tzdata() => new(
        [new(2272060800, 10), new(3550089600, 35), new(3644697600, 36), new(Leap2016, 37)],
        updated: 3960835200,
        expires: 3991593600);

    internal static NtpTimestamp At(int year, int month, int day, int hour = 0, int minute = 0, double second = 0) =>
        NtpTimestamp.FromDateTime(new DateTime(year, month, day, hour, minute, 0, DateTimeKind.Utc).AddSeconds(second));

    private static NtpTimestamp FromNtp(double seconds) => NtpTimestamp.FromDateTime(DateTime.UnixEpoch.AddSeconds(seconds - NtpTimestamp.UnixEpochOffsetSeconds));

    [Fact]
    public void TAI_minus_UTC_is_36_before_the_2016_leap_and_37_after()
    {
        LeapTable table = Tzdata();
        Assert.Equal(36, table.TaiOffset(At(2016, 12, 31, 23, 59, 59.999)));
        Assert.Equal(37, table.TaiOffset(At(2017, 1, 1)));
        Assert.Equal(37, table.TaiOffset(At(2026, 12, 2)));
        Assert.Equal(10, table.TaiOffset(At(1972, 1, 1)));
        Assert.Equal(0, table.TaiOffset(At(1971, 6, 1)));
    }

    [Fact]
    public void The_next_leap_is_the_2016_insertion_until_it_takes_effect()
    {
        LeapTable table = Tzdata();
        Assert.Equal(new LeapSecond(Leap2016, LeapIndicator.AddSecond, 37), table.NextLeap(At(2016, 7, 1)));
        Assert.Null(table.NextLeap(At(2017, 1, 1)));
        Assert.Equal(new LeapSecond(Leap2016, LeapIndicator.AddSecond, 37), table.LastLeap(At(2026, 12, 2)));
        // The first line starts the table: it is no leap.
        Assert.Equal(LeapIndicator.AddSecond, table.NextLeap(At(1971, 1, 1))!.Value.Kind);
        Assert.Equal(3550089600, table.NextLeap(At(1971, 1, 1))!.Value.NtpSeconds);
    }

    [Theory]
    [InlineData(2016, 11, 30, 12, LeapIndicator.NoWarning)]
    [InlineData(2016, 12, 3, 23, LeapIndicator.NoWarning)]
    [InlineData(2016, 12, 4, 0, LeapIndicator.AddSecond)] // 28 days before, as ntpd 4.2.8
    [InlineData(2016, 12, 15, 12, LeapIndicator.AddSecond)]
    [InlineData(2016, 12, 31, 23, LeapIndicator.AddSecond)]
    [InlineData(2017, 1, 1, 0, LeapIndicator.NoWarning)]
    public void The_leap_is_announced_in_the_28_days_before_it(int year, int month, int day, int hour, LeapIndicator expected) =>
        Assert.Equal(expected, Tzdata().Announced(At(year, month, day, hour)));

    [Fact]
    public void The_kernel_is_armed_on_2016_12_31_only()
    {
        LeapTable table = Tzdata();
        var armedDays = new HashSet<DateOnly>();
        for (DateTime t = new(2016, 12, 1, 0, 0, 30, DateTimeKind.Utc); t < new DateTime(2017, 1, 3, 0, 0, 0, DateTimeKind.Utc); t = t.AddMinutes(10))
        {
            if (table.ArmKernel(NtpTimestamp.FromDateTime(t)) == LeapIndicator.AddSecond)
            {
                armedDays.Add(DateOnly.FromDateTime(t));
            }
        }

        Assert.Equal([new DateOnly(2016, 12, 31)], armedDays);
        Assert.Equal(LeapIndicator.NoWarning, table.ArmKernel(At(2016, 12, 30, 23, 59, 59.9)));
        Assert.Equal(LeapIndicator.AddSecond, table.ArmKernel(At(2016, 12, 31)));
        Assert.Equal(LeapIndicator.AddSecond, table.ArmKernel(At(2016, 12, 31, 23, 59, 59.9)));
        Assert.Equal(LeapIndicator.NoWarning, table.ArmKernel(At(2017, 1, 1)));
    }

    [Fact]
    public void The_tzdata_file_has_expired_by_december_2026()
    {
        LeapTable table = Tzdata();
        Assert.True(table.Expired(At(2026, 12, 2)));
        Assert.Equal(-157, table.DaysToExpiry(At(2026, 12, 2)), 6);
        Assert.False(table.Expired(At(2026, 6, 1)));
        Assert.Equal(27, table.DaysToExpiry(At(2026, 6, 1)), 6);
    }

    [Fact]
    public void A_deletion_is_an_entry_whose_offset_drops_by_one()
    {
        long deletion = Leap2016 + (400 * 86400);
        var table = new LeapTable([new(Leap2016, 37), new(deletion, 36)], 0, deletion + (365 * 86400));
        Assert.Equal(new LeapSecond(deletion, LeapIndicator.DeleteSecond, 36), table.NextLeap(At(2017, 6, 1)));
        Assert.Equal(LeapIndicator.DeleteSecond, table.Announced(FromNtp(deletion - (10 * 86400))));
        Assert.Equal(LeapIndicator.DeleteSecond, table.ArmKernel(FromNtp(deletion - 3600)));
        Assert.Equal(37, table.TaiOffset(FromNtp(deletion - 0.5)));
        Assert.Equal(36, table.TaiOffset(FromNtp(deletion)));
        Assert.Equal(-0.5, table.SmearOffset(FromNtp(deletion - 43200), 86400), 6);
    }

    [Theory]
    [InlineData(86400 + 1, 0)]
    [InlineData(86400, 0)]
    [InlineData(64800, 0.25)]
    [InlineData(43200, 0.5)]
    [InlineData(21600, 0.75)]
    [InlineData(0.001, 1 - (0.001 / 86400))]
    [InlineData(0, 0)] // at the leap: UTC repeated the second, served time is the clock again
    [InlineData(-3600, 0)]
    public void The_smear_grows_linearly_to_one_second_at_an_insertion(double beforeLeap, double expected) =>
        Assert.Equal(expected, Tzdata().SmearOffset(FromNtp(Leap2016 - beforeLeap), 86400), 5);

    [Fact]
    public void The_smear_ignores_the_repeated_second_once_the_engine_marked_the_crossing()
    {
        LeapSecond leap = Tzdata().NextLeap(At(2016, 12, 31))!.Value;
        var smear = new LeapSmear(leap, 3600);
        Assert.Equal(0.5, smear.OffsetAt(FromNtp(Leap2016 - 1800)), 6);
        Assert.Equal(1 - (0.6 / 3600), smear.OffsetAt(FromNtp(Leap2016 - 0.6)), 6);

        // The engine's last tick before the leap read Leap2016 - 0.6: a reading below that is the repeated second.
        var crossing = new LeapSmear(leap, 3600, repeatedBelow: Leap2016 - 0.6);
        Assert.Equal(1 - (0.3 / 3600), crossing.OffsetAt(FromNtp(Leap2016 - 0.3)), 6);
        Assert.Equal(0, crossing.OffsetAt(FromNtp(Leap2016 - 0.9)));
        Assert.Equal(1 - (2 / 3600.0), crossing.OffsetAt(FromNtp(Leap2016 - 2)), 6);
    }
}

public sealed class LeapEngineTests
{
    private static readonly IPEndPoint Querier = new(IPAddress.Loopback, 40123);

    /// <summary>An engine on its local clock (a refclock-only host) at <paramref name="clock"/> with tzdata's table.</summary>
    private static (NtpEngine Engine, RecordingTransport Transport, FixedClock Clock) LocalClockEngine(NtpTimestamp start, double smear = 0)
    {
        var transport = new RecordingTransport();
        var clock = new FixedClock(start);
        var engine = new NtpEngine(new EngineSettings { LeapSmearInterval = smear }, clock, NoClockControl.Instance, transport, new SeededRandomSource(1))
        {
            LeapTable = LeapTableTests.Tzdata(),
        };
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("127.127.1.0"), 123))
        {
            Mode = AssociationMode.Refclock, RefclockType = 1, RefclockStratum = 10, RefclockId = ReferenceId.FromAscii("LOCL"),
        });
        for (int t = 0; t < 12; t++)
        {
            clock.Current = start + NtpDuration.FromSeconds(t);
            engine.Tick(t);
        }

        transport.Sent.Clear();
        return (engine, transport, clock);
    }

    private static string ReadVariables(NtpEngine engine, RecordingTransport transport, string names = "")
    {
        var request = new byte[(12 + names.Length + 3) & ~3];
        new ControlHeader { Version = 2, Opcode = ControlOpcode.ReadVariables, Sequence = 7 }.Write(request, Encoding.ASCII.GetBytes(names));
        transport.Sent.Clear();
        engine.Receive(request, Querier, NtpTimestamp.Zero, 20);
        return string.Concat(transport.Sent.Select(s =>
        {
            Assert.True(ControlHeader.TryRead(s.Packet, out _, out ReadOnlySpan<byte> data, out _));
            return Encoding.ASCII.GetString(data);
        }));
    }

    [Fact]
    public void A_local_clock_host_announces_the_file_leap_and_rv_shows_tai_leapsec_and_expire()
    {
        (NtpEngine engine, RecordingTransport transport, _) = LocalClockEngine(LeapTableTests.At(2016, 12, 15));

        Assert.Equal(LeapIndicator.AddSecond, engine.State.Leap);
        Assert.Contains(engine.Events, e => e.Message.StartsWith("leap second insertion at 2017-01-01 00:00:00 UTC announced from the leap seconds file", StringComparison.Ordinal));
        string rv = ReadVariables(engine, transport);
        Assert.Contains("leap=1,", rv, StringComparison.Ordinal);
        Assert.Matches(@"clk_wander=[0-9.]+, tai=36, leapsec=201701010000, expire=202606280000$", rv);
        Assert.DoesNotContain("leapsmear", rv, StringComparison.Ordinal);
    }

    [Fact]
    public void After_the_leap_the_indicator_clears_and_tai_moves()
    {
        (NtpEngine engine, RecordingTransport transport, FixedClock clock) = LocalClockEngine(LeapTableTests.At(2016, 12, 31, 23, 59, 30));
        Assert.Equal(LeapIndicator.AddSecond, engine.State.Leap);
        clock.Current = LeapTableTests.At(2017, 1, 1, 0, 0, 1);
        engine.Tick(13);

        Assert.Equal(LeapIndicator.NoWarning, engine.State.Leap);
        Assert.Equal("tai=37, leapsec=201701010000", ReadVariables(engine, transport, "tai,leapsec"));
    }

    [Fact]
    public void While_smearing_rv_shows_the_interval_and_the_offset_and_replies_carry_no_warning()
    {
        (NtpEngine engine, RecordingTransport transport, FixedClock clock) = LocalClockEngine(LeapTableTests.At(2016, 12, 31, 12), smear: 86400);
        Assert.Equal(LeapIndicator.AddSecond, engine.State.Leap);
        // ntpd's doffset in ms: served minus clock, 11 s after noon of an 86400 s smear.
        Assert.Matches(@"leapsmearinterval=86400, leapsmearoffset=-500\.127$", ReadVariables(engine, transport));

        var request = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = new NtpTimestamp(0x1234) }.Write(request);
        Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
        NtpTimestamp arrival = clock.Current;
        Assert.Equal(48, engine.Responder.Respond(request, arrival, reply));
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        Assert.Equal(LeapIndicator.NoWarning, header.Leap);
        // Half a day of an 86400 s smear: served time is 0.5 s behind the clock (within the ~0.1 ms since 12:00).
        Assert.Equal(-0.5, (header.ReceiveTimestamp - arrival).ToSeconds(), 3);
        Assert.Equal(-0.5, (header.TransmitTimestamp - clock.Current).ToSeconds(), 3);
    }

    [Fact]
    public void Serving_while_smearing_allocates_nothing()
    {
        var clock = new FixedClock(LeapTableTests.At(2016, 12, 31, 18));
        var engine = new NtpEngine(
            new EngineSettings { LeapSmearInterval = 86400, Access = new RestrictList([new AccessEntry(IPAddress.Any, IPAddress.Any, AccessFlags.None)]) },
            clock, NoClockControl.Instance, new RecordingTransport(), new SeededRandomSource(1)) { LeapTable = LeapTableTests.Tzdata() };
        engine.Tick(0);
        Assert.NotNull(engine.Responder.Smear);
        byte[] request = new byte[48];
        request[0] = 0x23;
        Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
        var source = new MruKey(0xC612_0002, 40000, false);

        long allocated = 0;
        int answered = 0;
        for (int i = 0; i < 2000; i++)
        {
            NtpTimestamp arrival = clock.Now() + NtpDuration.FromSeconds(i * 0.01);
            long before = GC.GetAllocatedBytesForCurrentThread();
            int length = engine.Serve(request, source, arrival, reply);
            allocated += i < 10 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
            answered += length > 0 ? 1 : 0;
        }

        Assert.Equal(2000, answered);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Served_time_never_jumps_when_the_kernel_repeats_the_last_second()
    {
        const double interval = 3600;
        double leap = LeapTableTests.Leap2016;
        NtpTimestamp Reading(double ntpSeconds) => NtpTimestamp.FromDateTime(DateTime.UnixEpoch.AddSeconds(ntpSeconds - NtpTimestamp.UnixEpochOffsetSeconds));
        var clock = new FixedClock(Reading(leap - 2.5));
        var engine = new NtpEngine(new EngineSettings { LeapSmearInterval = interval }, clock, NoClockControl.Instance, new RecordingTransport(), new SeededRandomSource(1))
        {
            LeapTable = LeapTableTests.Tzdata(),
        };
        var request = new byte[48];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = new NtpTimestamp(0x1234) }.Write(request);
        var reply = new byte[ServerResponder.MaxReplyLength];
        var served = new List<(double Real, double Served)>();
        void Serve(double real, double reading)
        {
            clock.Current = Reading(reading);
            Assert.Equal(48, engine.Responder.Respond(request, clock.Current, reply));
            Assert.True(NtpHeader.TryRead(reply, out NtpHeader h));
            served.Add((real, LeapTable.Seconds(h.ReceiveTimestamp)));
        }

        // Monotonic time m; the clock reads leap − 2.5 + m until the kernel steps it back 1 s at the leap (m = 2.5).
        foreach (double m in new[] { 0.0, 1.0, 2.0 })
        {
            clock.Current = Reading(leap - 2.5 + m);
            engine.Tick(m);
            Serve(m + 0.2, leap - 2.5 + m + 0.2);
        }

        Serve(2.4, leap - 0.1);       // the first pass of 23:59:59
        Serve(2.7, leap - 0.8);       // the repeated second, before the next tick
        clock.Current = Reading(leap - 0.5);
        engine.Tick(3.0);             // past the leap by monotonic time: the smear is retired
        Assert.Null(engine.Responder.Smear);
        Serve(3.2, leap - 0.3);
        Serve(3.6, leap + 0.1);

        // Served time advances with real time at (nearly) the same rate throughout: no step back, no step forward.
        for (int i = 1; i < served.Count; i++)
        {
            double elapsed = served[i].Real - served[i - 1].Real;
            Assert.Equal(elapsed, served[i].Served - served[i - 1].Served, 0.002);
        }

        Assert.Equal(leap - 0.8, served[4].Served, 6);
    }
}
