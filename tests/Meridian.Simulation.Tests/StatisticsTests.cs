using System.Globalization;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Simulation.Tests;

/// <summary>The statistics lines a running engine writes: when, how many, and with which values.</summary>
public sealed class StatisticsTests
{
    /// <summary>Keeps every line, as the daemon's files would.</summary>
    private sealed class RecordedStatistics : IStatisticsSink
    {
        public List<(StatisticsFile File, string Line)> Lines { get; } = [];

        public bool Wants(StatisticsFile file) => true;

        public void Write(StatisticsFile file, NtpTimestamp now, string line) => Lines.Add((file, line));

        public string[][] Of(StatisticsFile file) => [.. Lines.Where(l => l.File == file).Select(l => l.Line.Split(' '))];
    }

    [Fact]
    public void A_server_and_its_client_write_every_file_with_the_values_the_engine_holds()
    {
        var lab = new Lab(seed: 7);
        var primary = lab.Server();
        SimulatedNode server = lab.Node(settings: new EngineSettings());
        server.AddServer(primary.Address, s => s with { Iburst = true, MinPoll = 6, MaxPoll = 6 });
        SimulatedNode client = lab.Node(settings: new EngineSettings());
        client.AddServer(server.Address, s => s with { Iburst = true, MinPoll = 4, MaxPoll = 4 });
        var served = new RecordedStatistics();
        var measured = new RecordedStatistics();
        server.Engine.Statistics = served;
        client.Engine.Statistics = measured;

        lab.Run(2 * 3600 + 60);

        // sysstats: one line an hour, each counting its own hour (ntpd clears the counters after a line). The client
        // polls every 16 s, so an hour holds about 225 requests, all answered.
        string[][] sys = served.Of(StatisticsFile.SysStats);
        Assert.Equal(2, sys.Length);
        Assert.All(sys, f => Assert.Equal(13, f.Length));
        Assert.All(sys, f => Assert.Equal("3600", f[2]));
        Assert.All(sys, f => Assert.InRange(long.Parse(f[3], CultureInfo.InvariantCulture), 220, 240));
        Assert.All(sys, f => Assert.Equal(f[3], f[4]));
        // The minute before the first line and the one after the last are not in any line.
        Assert.InRange(server.Engine.Responder.Counters.Received - sys.Sum(f => long.Parse(f[3], CultureInfo.InvariantCulture)), 1, 20);

        // rawstats: one line per reply the client took, with the server's address and its stratum.
        string[][] raw = measured.Of(StatisticsFile.RawStats);
        Assert.InRange(raw.Length, 440, 470);
        Assert.All(raw, f => Assert.Equal(server.Address.ToString(), f[2]));
        Assert.All(raw.Skip(10), f => Assert.Equal(server.Engine.State.Stratum.ToString(CultureInfo.InvariantCulture), f[11]));
        // T1 is when the request left by our clock, not the random transmit timestamp the request carried: the four
        // timestamps give the round trip, under a second.
        Assert.All(raw, f => Assert.InRange(double.Parse(f[7], CultureInfo.InvariantCulture) - double.Parse(f[4], CultureInfo.InvariantCulture), 0, 1));

        // peerstats: one line per sample. The first replies, sent while the server was not synchronized yet, pass
        // the packet checks (rawstats) but not the peer's (RFC 5905 §8: stratum 16), so they give no sample.
        string[][] peer = measured.Of(StatisticsFile.PeerStats);
        Assert.InRange(raw.Length - peer.Length, 0, 8);
        Association source = Assert.Single(client.Engine.Associations);
        Assert.All(peer, f => Assert.Equal(source.Address.Address.ToString(), f[2]));
        Assert.InRange(double.Parse(peer[^1][6], CultureInfo.InvariantCulture), 0.0001, 0.1);

        // loopstats: one line per clock update, the last with the discipline's frequency and poll.
        string[][] loop = measured.Of(StatisticsFile.LoopStats);
        Assert.True(loop.Length > 100, $"{loop.Length} loopstats lines");
        Assert.Equal(client.Engine.Discipline.Frequency * 1e6, double.Parse(loop[^1][3], CultureInfo.InvariantCulture), 3);
        Assert.Equal(client.Engine.Discipline.PollExponent.ToString(CultureInfo.InvariantCulture), loop[^1][6]);

        // protostats: the client's events, the choice of its system peer among them.
        Assert.Contains(measured.Of(StatisticsFile.ProtoStats), f => f[2] == server.Address.ToString() && f[^1] == "sys_peer");
        Assert.Contains(measured.Of(StatisticsFile.ProtoStats), f => f[2] == "0.0.0.0" && f[^1] == "clock_sync");
    }
}
