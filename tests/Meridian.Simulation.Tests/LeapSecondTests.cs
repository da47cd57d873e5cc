using Meridian.Engine;
using Meridian.Protocol;
using Meridian.Simulation;

namespace Meridian.Simulation.Tests;

/// <summary>
/// Leap seconds from a leap seconds file, through the real engine in virtual time: what served packets announce
/// before, on and after the day, when the kernel is armed, TAI − UTC, a deletion, and the smear's slope. The upstream
/// servers announce nothing: the file alone knows the leap (as a server fed by servers that missed it).
/// </summary>
public sealed class LeapSecondTests
{
    private static readonly DateTime Leap2016 = new(2017, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static long Ntp(DateTime utc) => (long)(utc - DateTime.UnixEpoch).TotalSeconds + NtpTimestamp.UnixEpochOffsetSeconds;

    /// <summary>The tail of tzdata's leap-seconds.list: TAI − UTC 36 from mid 2015, 37 from 2017 (expires 2026-06-28).</summary>
    private static LeapTable Tzdata() =>
        new([new(2272060800, 10), new(3644697600, 36), new(Ntp(Leap2016), 37)], updated: 3960835200, expires: 3991593600);

    /// <summary>A node synchronized to three servers; true UTC has the table's leaps, so the servers repeat (or skip) a second.</summary>
    private static (Lab Lab, SimulatedNode Node) Synchronized(DateTime epoch, LeapTable table, double smear = 0, int seed = 23)
    {
        var lab = new Lab(seed, epoch: epoch, leaps: table);
        var servers = new[] { lab.Server(), lab.Server(), lab.Server() };
        var node = lab.Node(settings: new EngineSettings { LeapSmearInterval = smear });
        node.Engine.LeapTable = table;
        foreach (ReferenceServer server in servers)
        {
            node.AddServer(server.Address, s => s with { Iburst = true });
        }

        Assert.NotNull(lab.RunUntil(() => node.Engine.State.IsSynchronized, within: 600));
        // The next tick applies the table to the kernel (TAI) and the served state.
        lab.Run(2);
        return (lab, node);
    }

    /// <summary>A client request answered by the node's own responder, as a client on the network would see it.</summary>
    private static (NtpHeader Reply, NtpTimestamp Arrival) Probe(SimulatedNode node)
    {
        var request = new byte[NtpHeader.Size];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = new NtpTimestamp(0x0102_0304_0506_0708) }.Write(request);
        var reply = new byte[ServerResponder.MaxReplyLength];
        NtpTimestamp arrival = node.Clock.Now();
        Assert.Equal(NtpHeader.Size, node.Engine.Responder.Respond(request, arrival, reply));
        Assert.True(NtpHeader.TryRead(reply, out NtpHeader header));
        return (header, arrival);
    }

    [Fact]
    public void The_2016_insertion_is_announced_for_28_days_armed_on_its_last_day_only_and_moves_TAI_to_37()
    {
        (Lab lab, SimulatedNode node) = Synchronized(new DateTime(2016, 12, 3, 12, 0, 0, DateTimeKind.Utc), Tzdata());

        // 28 days and a half before: nothing yet; TAI − UTC from the file is in the kernel.
        Assert.Equal(LeapIndicator.NoWarning, Probe(node).Reply.Leap);
        Assert.Equal(36, node.Clock.TaiOffset);

        lab.RunUntil(new DateTime(2016, 12, 4, 0, 1, 0, DateTimeKind.Utc));
        Assert.Equal(LeapIndicator.AddSecond, Probe(node).Reply.Leap);
        Assert.Contains(node.Log, e => e.Message.StartsWith("leap second insertion at 2017-01-01 00:00:00 UTC announced from the leap seconds file", StringComparison.Ordinal));

        // The last day of November is not the day: unlike the vote, the file says which month.
        lab.RunUntil(new DateTime(2016, 12, 30, 23, 59, 0, DateTimeKind.Utc));
        Assert.Equal(LeapIndicator.AddSecond, Probe(node).Reply.Leap);
        Assert.Empty(node.Clock.LeapCalls);

        lab.RunUntil(new DateTime(2016, 12, 31, 23, 59, 59, DateTimeKind.Utc));
        (DateTime armedAt, LeapIndicator armed) = Assert.Single(node.Clock.LeapCalls);
        Assert.Equal((new DateOnly(2016, 12, 31), LeapIndicator.AddSecond), (DateOnly.FromDateTime(armedAt), armed));
        Assert.InRange(armedAt.TimeOfDay.TotalSeconds, 0, 2);
        Assert.Equal(LeapIndicator.AddSecond, Probe(node).Reply.Leap);

        // After midnight: the announcement clears, the kernel is disarmed, TAI − UTC is 37.
        lab.RunUntil(Leap2016.AddSeconds(3));
        Assert.Equal(LeapIndicator.NoWarning, Probe(node).Reply.Leap);
        Assert.Equal(LeapIndicator.NoWarning, node.Engine.State.Leap);
        Assert.Equal(2, node.Clock.LeapCalls.Count);
        Assert.Equal((new DateOnly(2017, 1, 1), LeapIndicator.NoWarning), (DateOnly.FromDateTime(node.Clock.LeapCalls[1].Utc), node.Clock.LeapCalls[1].Leap));
        Assert.Equal([36, 37], node.Clock.TaiCalls.Select(c => c.Offset));
        Assert.Equal(Leap2016, node.Clock.TaiCalls[1].Utc, TimeSpan.FromSeconds(2));

        // The armed clock repeated 23:59:59 with UTC: it stays on time without a step.
        Assert.Equal(1, node.Clock.LeapsPerformed);
        lab.RunUntil(Leap2016.AddHours(1));
        Assert.Equal(0, node.Clock.Steps);
        Assert.InRange(Math.Abs(node.Clock.Error), 0, 0.005);
        Figures.Record($"leap 2016-12-31 from the file: announced from 2016-12-04, kernel armed {armedAt:yyyy-MM-dd HH:mm:ss.fff}, disarmed {node.Clock.LeapCalls[1].Utc:yyyy-MM-dd HH:mm:ss.fff}, TAI {node.Clock.TaiCalls[0].Offset} -> {node.Clock.TaiCalls[1].Offset}, clock {node.Clock.Error * 1e3:+0.000;-0.000} ms off UTC an hour after, 0 steps");
    }

    [Fact]
    public void A_synthetic_deletion_is_announced_armed_on_its_day_and_lowers_TAI()
    {
        // Virtual time starts on 2026-11-22; the synthetic deletion takes effect at 2026-11-25 00:00 UTC.
        DateTime deletion = new(2026, 11, 25, 0, 0, 0, DateTimeKind.Utc);
        var table = new LeapTable([new(3644697600, 36), new(Ntp(Leap2016), 37), new(Ntp(deletion), 36)], 0, Ntp(deletion.AddYears(1)));
        (Lab lab, SimulatedNode node) = Synchronized(SimulatedClock.Epoch.ToDateTime(), table);

        Assert.Equal(LeapIndicator.DeleteSecond, Probe(node).Reply.Leap);
        Assert.Equal(37, node.Clock.TaiOffset);
        lab.RunUntil(deletion.AddDays(-1).AddSeconds(-10));
        Assert.Empty(node.Clock.LeapCalls);

        lab.RunUntil(deletion.AddSeconds(5));
        Assert.Equal([(new DateOnly(2026, 11, 24), LeapIndicator.DeleteSecond), (new DateOnly(2026, 11, 25), LeapIndicator.NoWarning)],
            node.Clock.LeapCalls.Select(c => (DateOnly.FromDateTime(c.Utc), c.Leap)));
        Assert.Equal(LeapIndicator.NoWarning, Probe(node).Reply.Leap);
        Assert.Equal(36, node.Clock.TaiOffset);
        // 23:59:59 was skipped by the clock as by UTC.
        Assert.Equal(1, node.Clock.LeapsPerformed);
        lab.RunUntil(deletion.AddHours(1));
        Assert.Equal(0, node.Clock.Steps);
        Assert.InRange(Math.Abs(node.Clock.Error), 0, 0.005);
    }

    [Fact]
    public void The_smear_moves_served_time_linearly_by_one_second_over_the_interval_and_hides_the_leap()
    {
        const double interval = 7200;
        DateTime leap = new(2026, 11, 23, 0, 0, 0, DateTimeKind.Utc);
        var table = new LeapTable([new(3644697600, 36), new(Ntp(Leap2016), 37), new(Ntp(leap), 38)], 0, Ntp(leap.AddYears(1)));
        (Lab lab, SimulatedNode node) = Synchronized(SimulatedClock.Epoch.ToDateTime(), table, smear: interval);
        Assert.Equal(LeapIndicator.AddSecond, node.Engine.State.Leap);

        lab.RunUntil(leap.AddSeconds(-interval - 600));
        var samples = new List<(double BeforeLeap, double Offset, LeapIndicator Leap)>();
        while (lab.Time.Now < (leap.AddSeconds(600) - lab.Time.Epoch.ToDateTime()).TotalSeconds)
        {
            lab.Run(30);
            (NtpHeader reply, NtpTimestamp arrival) = Probe(node);
            double beforeLeap = (leap - arrival.ToDateTime()).TotalSeconds;
            // Served minus the node's clock: the smear alone (the clock's own error cancels).
            samples.Add((beforeLeap, (reply.ReceiveTimestamp - arrival).ToSeconds(), reply.Leap));
        }

        Assert.All(samples, s => Assert.Equal(LeapIndicator.NoWarning, s.Leap));
        Assert.All(samples.Where(s => s.BeforeLeap > interval || s.BeforeLeap <= 0), s => Assert.Equal(0, s.Offset));
        // Linear: −(1 − before/interval) s, within a millisecond, everywhere inside the interval.
        Assert.All(samples.Where(s => s.BeforeLeap is > 0 and <= interval), s => Assert.Equal(-(1 - (s.BeforeLeap / interval)), s.Offset, 0.001));
        (double _, double half, _) = samples.MinBy(s => Math.Abs(s.BeforeLeap - (interval / 2)));
        Assert.Equal(-0.5, half, 0.01);
        Assert.Contains(node.Log, e => e.Message.StartsWith("leap smear started: insertion at 2026-11-23 00:00:00 UTC smeared over 7200 s", StringComparison.Ordinal));
        Assert.True(samples.Count(s => s.BeforeLeap is > 0 and <= interval) >= 200);
        Figures.Record($"leap smear 7200 s: served minus clock {half:+0.000000;-0.000000} s half way, {samples.Count(s => s.BeforeLeap is > 0 and <= interval)} samples inside the interval on the line within 1 ms, 0 outside, leap bits 00 throughout");
    }

    [Fact]
    public void A_client_of_a_smearing_server_follows_the_smear_and_never_sees_the_leap()
    {
        const double interval = 86400;
        DateTime leap = new(2026, 11, 24, 0, 0, 0, DateTimeKind.Utc);
        var table = new LeapTable([new(3644697600, 36), new(Ntp(Leap2016), 37), new(Ntp(leap), 38)], 0, Ntp(leap.AddYears(1)));
        (Lab lab, SimulatedNode server) = Synchronized(SimulatedClock.Epoch.ToDateTime(), table, smear: interval);
        SimulatedNode client = lab.Node();
        client.AddServer(server.Address, s => s with { Iburst = true, MaxPoll = 6 });

        var errors = new List<(double BeforeLeap, double Error)>();
        bool clientSawLeap = false;
        lab.Run((leap.AddHours(6) - lab.Time.Epoch.ToDateTime()).TotalSeconds - lab.Time.Now, 600, () =>
        {
            double beforeLeap = (leap - lab.Time.Epoch.ToDateTime()).TotalSeconds - lab.Time.Now;
            errors.Add((beforeLeap, client.Clock.Error));
            clientSawLeap |= client.Engine.State.Leap is LeapIndicator.AddSecond or LeapIndicator.DeleteSecond;
        });

        Assert.False(clientSawLeap);
        Assert.Empty(client.Clock.LeapCalls);
        // The client's clock is the smeared time: behind true time by the smear, within a few milliseconds.
        Assert.All(errors.Where(e => e.BeforeLeap is > 0 and < interval), e => Assert.Equal(-(1 - (e.BeforeLeap / interval)), e.Error, 0.01));
        (_, double half) = errors.MinBy(e => Math.Abs(e.BeforeLeap - (interval / 2)));
        Assert.Equal(-0.5, half, 0.005);

        // The server's clock repeated the second, so served time went on without a jump: the client, which never
        // armed a leap, is on UTC again after it and never stepped.
        Assert.Equal(1, server.Clock.LeapsPerformed);
        Assert.Equal(0, client.Clock.LeapsPerformed);
        Assert.Equal(0, client.Clock.Steps);
        Assert.All(errors.Where(e => e.BeforeLeap < -600), e => Assert.InRange(Math.Abs(e.Error), 0, 0.005));
        Figures.Record($"leap smear 86400 s, a client of the smearing server: clock {half:+0.000000;-0.000000} s off UTC half way, within {errors.Where(e => e.BeforeLeap is > 0 and < interval).Max(e => Math.Abs(e.Error + (1 - (e.BeforeLeap / interval)))) * 1e3:0.000} ms of the smear line, {errors.Where(e => e.BeforeLeap < -600).Max(e => Math.Abs(e.Error)) * 1e3:0.000} ms off UTC after the leap, 0 steps");
    }
}
