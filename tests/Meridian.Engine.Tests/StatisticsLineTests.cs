using System.Net;
using Meridian.Protocol;

namespace Meridian.Engine.Tests;

/// <summary>ntpd 4.2.8's statistics lines, field for field: what scripts and ntpviz parse.</summary>
public sealed class StatisticsLineTests
{
    // 2026-12-02 10:00:12.345 UTC: MJD 61376, 36012.345 s past midnight.
    private static readonly NtpTimestamp Now = NtpTimestamp.FromDateTime(new DateTime(2026, 12, 2, 10, 0, 12, 345, DateTimeKind.Utc));

    [Fact]
    public void Every_line_starts_with_the_modified_julian_day_and_the_seconds_past_midnight()
    {
        Assert.Equal("61376 36012.345", StatisticsLine.Stamp(Now));
        Assert.Equal("40587 0.000", StatisticsLine.Stamp(NtpTimestamp.FromDateTime(DateTime.UnixEpoch)));
        Assert.Equal("57753 86399.999", StatisticsLine.Stamp(NtpTimestamp.FromDateTime(new DateTime(2016, 12, 31, 23, 59, 59, 999, DateTimeKind.Utc))));
    }

    [Fact]
    public void Loopstats_peerstats_and_clockstats_lines()
    {
        Assert.Equal("61376 36012.345 -0.000012345 12.346 0.000023456 0.001234 6", StatisticsLine.Loop(Now, -0.000012345, 12.3456, 0.000023456, 0.0012341, 6));
        Assert.Equal("61376 36012.345 192.0.2.1 9614 0.000123456 0.004567890 0.000987654 0.000111222",
            StatisticsLine.Peer(Now, IPAddress.Parse("192.0.2.1"), 0x9614, 0.000123456, 0.00456789, 0.000987654, 0.000111222));
        Assert.Equal("61376 36012.345 127.127.20.0 $GPRMC,100012.00,A,4807.038,N,01131.000,E,022.4,084.4,021226,003.1,W*4B",
            StatisticsLine.Clock(Now, IPAddress.Parse("127.127.20.0"), "$GPRMC,100012.00,A,4807.038,N,01131.000,E,022.4,084.4,021226,003.1,W*4B"));
    }

    [Fact]
    public void Rawstats_carries_the_four_timestamps_and_the_header()
    {
        var header = new NtpHeader
        {
            Leap = LeapIndicator.NoWarning, Version = 4, Mode = NtpMode.Server, Stratum = 2, Poll = 6, Precision = -23,
            RootDelay = NtpShort.FromSeconds(0.0125), RootDispersion = NtpShort.FromSeconds(0.0375), ReferenceId = ReferenceId.FromAddress(IPAddress.Parse("192.0.2.9")),
        };
        var t1 = new NtpTimestamp(3_973_658_412, 0x8000_0000);
        string line = StatisticsLine.Raw(Now, IPAddress.Parse("192.0.2.1"), IPAddress.Parse("192.0.2.50"), t1, t1 + NtpDuration.FromSeconds(0.001), t1 + NtpDuration.FromSeconds(0.0011), t1 + NtpDuration.FromSeconds(0.0021), header);
        Assert.Equal("61376 36012.345 192.0.2.1 192.0.2.50 3973658412.500000000 3973658412.500999999 3973658412.501099999 3973658412.502099999 0 4 4 2 6 -23 0.012512 0.037506 192.0.2.9", line);
    }

    [Fact]
    public void Sysstats_and_protostats_lines()
    {
        Assert.Equal("61376 36012.345 3600 1200 1180 1100 80 5 3 2 10 4 1", StatisticsLine.Sys(Now, 3600, 1200, 1180, 1100, 80, 5, 3, 2, 10, 4, 1));
        Assert.Equal("61376 36012.345 0.0.0.0 0615 05 clock_sync", StatisticsLine.Proto(Now, null, 0x0615, 5, "clock_sync"));
        Assert.Equal("61376 36012.345 192.0.2.1 9614 0a sys_peer", StatisticsLine.Proto(Now, IPAddress.Parse("192.0.2.1"), 0x9614, 10, "sys_peer"));
    }
}
