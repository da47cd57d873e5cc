using System.Net;
using Meridian.Config;
using Meridian.Daemon;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon.Tests;

public sealed class StatisticsFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("meridian-stats-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static NtpTimestamp At(int day, int hour, int minute = 0) => NtpTimestamp.FromDateTime(new DateTime(2026, 12, day, hour, minute, 0, DateTimeKind.Utc));

    private IReadOnlyList<FileGenSettings> Settings(string text) => FileGenSettings.From(ConfigParser.Parse($"statsdir {_dir}/\n{text}", "ntp.conf"));

    [Fact]
    public void Type_day_starts_a_new_file_at_utc_midnight_and_the_plain_name_links_to_the_current_one()
    {
        var log = new StringWriter();
        using (var files = new StatisticsFiles(Settings("statistics loopstats peerstats\nfilegen loopstats file loopstats type day enable\n"), Log.ToWriter("ntpd", log)))
        {
            Assert.True(files.Wants(StatisticsFile.LoopStats) && files.Wants(StatisticsFile.PeerStats) && !files.Wants(StatisticsFile.RawStats));
            files.Write(StatisticsFile.LoopStats, At(1, 23, 59), "61375 86340.000 0.000001000 1.000 0.000001000 0.000100 6");
            files.Write(StatisticsFile.LoopStats, At(2, 0, 1), "61376 60.000 0.000002000 1.000 0.000001000 0.000100 6");
            files.Write(StatisticsFile.RawStats, At(2, 0, 1), "not wanted");
            files.Flush(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(["61375 86340.000 0.000001000 1.000 0.000001000 0.000100 6"], File.ReadAllLines(Path.Combine(_dir, "loopstats.20261201")));
        Assert.Equal(["61376 60.000 0.000002000 1.000 0.000001000 0.000100 6"], File.ReadAllLines(Path.Combine(_dir, "loopstats.20261202")));
        // The link is a hard link to the newest file, as ntpd's filegen keeps it.
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "loopstats.20261202")), File.ReadAllText(Path.Combine(_dir, "loopstats")));
        Assert.False(File.Exists(Path.Combine(_dir, "rawstats")));
    }

    [Theory]
    [InlineData("none", "peers")]
    [InlineData("week", "peers.2026W47")]
    [InlineData("month", "peers.202612")]
    [InlineData("year", "peers.2026")]
    [InlineData("pid", "peers.{pid}")]
    public void Filegen_types_name_their_files_as_ntpd_does(string type, string name)
    {
        using (var files = new StatisticsFiles(Settings($"filegen peerstats file peers type {type} nolink enable\n"), Log.ToWriter("ntpd", TextWriter.Null)))
        {
            files.Write(StatisticsFile.PeerStats, At(2, 10), "line");
            files.Flush(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(["line"], File.ReadAllLines(Path.Combine(_dir, name.Replace("{pid}", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal))));
    }

    [Fact]
    public void Disable_stats_and_filegen_disable_turn_files_off()
    {
        Assert.DoesNotContain(Settings("statistics loopstats\ndisable stats\n"), f => f.Enabled);
        Assert.DoesNotContain(Settings("statistics loopstats\nfilegen loopstats disable\n"), f => f.Enabled);
        Assert.Equal(["clockstats"], Settings("filegen clockstats enable\n").Where(f => f.Enabled).Select(f => f.Name));
    }

    [Fact]
    public void A_disk_that_refuses_writes_is_counted_and_logged_once_and_writing_resumes_when_it_takes_lines_again()
    {
        var log = new StringWriter();
        string blocked = Path.Combine(_dir, "full");
        File.WriteAllText(blocked, "a file where the directory should be: every write fails like a full disk");
        var settings = FileGenSettings.From(ConfigParser.Parse($"statsdir {blocked}/\nstatistics loopstats\n", "ntp.conf"));
        using var files = new StatisticsFiles(settings, Log.ToWriter("ntpd", log));
        for (int i = 0; i < 5; i++)
        {
            files.Write(StatisticsFile.LoopStats, At(2, 10, i), $"line {i}");
        }

        files.Flush(TimeSpan.FromSeconds(5));
        Assert.True(SpinWait.SpinUntil(() => files.Failed == 5, 5000), $"{files.Failed} failed");
        File.Delete(blocked);
        files.Write(StatisticsFile.LoopStats, At(2, 10, 9), "line 9");
        Assert.True(SpinWait.SpinUntil(() => files.Written == 1, 5000));

        Assert.Equal(["line 9"], File.ReadAllLines(Path.Combine(blocked, "loopstats.20261202")));
        string text = log.ToString();
        Assert.Single(text.Split('\n'), l => l.Contains("statistics: cannot write", StringComparison.Ordinal));
        Assert.Contains("statistics: writing " + Path.Combine(blocked, "loopstats.20261202") + " again (5 line(s) lost meanwhile)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_daemon_writes_loopstats_and_peerstats_as_its_clock_is_updated()
    {
        NtpConfiguration config = ConfigParser.Parse($"server 127.127.1.0\nfudge 127.127.1.0 stratum 10\ndisable ntp\nstatsdir {_dir}/\nstatistics loopstats peerstats protostats\nfilegen loopstats file loopstats type day enable\n", "test.conf");
        using (var daemon = new NtpDaemon(config, new DaemonOptions { Port = 0, ListenAddresses = [IPAddress.Loopback] }, Log.ToWriter("ntpd", TextWriter.Null), LinuxClock.Instance, -20))
        {
            daemon.Start();
            daemon.RunInBackground();
            Assert.True(SpinWait.SpinUntil(() => File.Exists(Path.Combine(_dir, "loopstats")) && File.ReadAllLines(Path.Combine(_dir, "loopstats")).Length >= 2, 30_000));
            Assert.Contains(" 9024 ", File.ReadAllText(Path.Combine(_dir, "peerstats")), StringComparison.Ordinal);
            daemon.Stop();
        }

        string[] loop = File.ReadAllLines(Path.Combine(_dir, "loopstats"));
        string[] fields = loop[0].Split(' ');
        Assert.Equal(7, fields.Length);
        Assert.Equal((DateTime.UtcNow - DateTime.UnixEpoch).Days + 40587, int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture));
        string[] peer = File.ReadAllLines(Path.Combine(_dir, "peerstats"));
        Assert.All(peer, l => Assert.Matches(@"^\d{5} \d+\.\d{3} 127\.127\.1\.0 [0-9a-f]{4} -?\d+\.\d{9} \d+\.\d{9} \d+\.\d{9} \d+\.\d{9}$", l));
        Assert.Contains(File.ReadAllLines(Path.Combine(_dir, "protostats")), l => l.EndsWith(" 0a sys_peer", StringComparison.Ordinal));
    }
}
