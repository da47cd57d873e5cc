using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon.Tests;

public sealed class RemoteConfigurationTests
{
    private sealed class Clock : IClock
    {
        public NtpTimestamp Now() => NtpTimestamp.FromDateTime(new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc));
    }

    private sealed class NoTransport : INtpTransport
    {
        public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest) => NtpTimestamp.Zero;

        public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest) => NtpTimestamp.Zero;
    }

    private static (RemoteConfiguration Remote, NtpEngine Engine, List<string> Added, List<string> Names, StringWriter Log) Create(string conf = "")
    {
        NtpConfiguration config = ConfigParser.Parse(conf, "ntp.conf");
        var engine = new NtpEngine(DaemonPlan.From(config, new DaemonOptions(), null, -20).Engine, new Clock(), NoClockControl.Instance, new NoTransport(), new SeededRandomSource(1));
        var text = new StringWriter();
        var log = Log.ToWriter("ntpd", text);
        var added = new List<string>();
        var names = new List<string>();
        var remote = new RemoteConfiguration(engine, new RuntimeConfiguration(config, engine, log), c => added.AddRange(c.Associations.Select(a => a.Address)), n => names.AddRange(n), log);
        return (remote, engine, added, names, text);
    }

    [Fact]
    public void Lines_that_would_open_files_are_not_read_at_a_remote_hosts_word()
    {
        string secret = Path.Combine(Directory.CreateTempSubdirectory("meridian-remote-").FullName, "secret.conf");
        File.WriteAllText(secret, "server 192.0.2.66\nthis is not ntp.conf\n");
        try
        {
            var (remote, engine, added, _, _) = Create();
            string answer = remote.Apply($"includefile {secret}\nkeys {secret}\ndriftfile /tmp/x\nrestrict 192.0.2.1 noquery\n");

            Assert.Equal("Config Succeeded; these take effect only at start and were not changed: includefile, keys, driftfile", answer);
            Assert.Empty(added);
            Assert.Equal(AccessFlags.NoQuery, engine.Access.Lookup(IPAddress.Parse("192.0.2.1")));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(secret)!, true);
        }
    }

    [Fact]
    public void Run_time_changes_reach_the_engine_and_host_names_go_to_the_resolver()
    {
        var (remote, engine, added, names, _) = Create("restrict default kod\n");
        Assert.True((engine.Flags & SystemFlags.Auth) != 0);

        string answer = remote.Apply("server 192.0.2.7 iburst\nrestrict timehost.example nomodify\ndisable auth monitor\nsetvar rack = 9\nenable calibrate\n");

        Assert.Equal("Config Succeeded; these take effect only at start and were not changed: enable calibrate", answer);
        Assert.Equal(["192.0.2.7"], added);
        Assert.Equal(["timehost.example"], names);
        Assert.Equal(SystemFlags.Default & ~(SystemFlags.Auth | SystemFlags.Monitor), engine.Flags);
        Assert.Contains(engine.Control.UserVariables, v => v.Name == "rack" && v.Value == "9");
    }

    [Fact]
    public void Statistics_and_filegen_change_at_run_time_and_what_a_filegen_line_leaves_out_stays()
    {
        NtpConfiguration config = ConfigParser.Parse("statsdir /var/log/stats/\nstatistics loopstats\nfilegen loopstats type week nolink\n", "ntp.conf");
        var engine = new NtpEngine(DaemonPlan.From(config, new DaemonOptions(), null, -20).Engine, new Clock(), NoClockControl.Instance, new NoTransport(), new SeededRandomSource(1));
        var log = Log.ToWriter("ntpd", TextWriter.Null);
        int reopened = 0;
        var runtime = new RuntimeConfiguration(config, engine, log) { StatisticsChanged = () => reopened++ };
        var remote = new RemoteConfiguration(engine, runtime, _ => { }, _ => { }, log);

        Assert.Equal("Config Succeeded", remote.Apply("statistics peerstats\nfilegen loopstats disable\nfilegen rawstats type month enable\n"));

        Assert.Equal(1, reopened);
        Dictionary<string, FileGenSettings> files = runtime.StatisticsFiles().ToDictionary(f => f.Name);
        Assert.Equal((true, "day", true), (files["peerstats"].Enabled, files["peerstats"].Type, files["peerstats"].Link));
        // Turned off, with the generation its first line gave it.
        Assert.Equal((false, "week", false), (files["loopstats"].Enabled, files["loopstats"].Type, files["loopstats"].Link));
        Assert.Equal((true, "month"), (files["rawstats"].Enabled, files["rawstats"].Type));
        Assert.Equal("/var/log/stats/rawstats.202612", files["rawstats"].PathFor(new DateTime(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc), 1, 0));
    }
}
