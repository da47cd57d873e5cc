using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>
/// Reference clocks end to end: seed 003's NMEA GPS on a pseudo-terminal that a GPS writer feeds at 1 Hz, gpsd's
/// shared-memory segment read by our ntpd and by chronyd, and the PPS driver's device.
/// </summary>
public sealed class RefclockTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    /// <summary>The GPS row of ntpq -pn: tally, reach, offset and jitter (ms).</summary>
    private static (char Tally, string Reach, double Offset, double Jitter)? Row(string peers, string address, string refid)
    {
        Match m = Regex.Match(peers, $@"^(.){Regex.Escape(address)}\s+\.{refid}\.\s+0 l\s+\S+\s+\d+\s+([0-7]+)\s+[\d.]+\s+(-?[\d.]+)\s+([\d.]+)$", RegexOptions.Multiline);
        return m.Success ? (m.Groups[1].Value[0], m.Groups[2].Value, Ms(m.Groups[3].Value), Ms(m.Groups[4].Value)) : null;
    }

    private static double Ms(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    private static Daemon Writer(NetworkNamespace ns, params string[] args) =>
        ns.Start("/usr/bin/python3", [Path.Combine(AppContext.BaseDirectory, "Shims", "gps.py"), .. args]);

    /// <summary>Waits until the row is there with at least <paramref name="polls"/> good polls in its reach register.</summary>
    private static (char Tally, string Reach, double Offset, double Jitter) AwaitRow(NetworkNamespace ns, string refid, int polls, Func<char, bool> tally, Daemon ntpd, string address = "127.127.20.0")
    {
        CommandResult peers = ns.RunUntil(
            r => Row(r.Stdout, address, refid) is { } row && System.Numerics.BitOperations.PopCount(Convert.ToUInt32(row.Reach, 8)) >= polls && tally(row.Tally),
            TimeSpan.FromSeconds(150), Sandbox.Out("ntpq"), "-pn", "127.0.0.1");
        var found = Row(peers.Stdout, address, refid);
        Assert.True(found is { } r && tally(r.Tally), $"no such row\n{peers}\n{Broadcasting.Log(ns)}{ntpd.Output}");
        return found!.Value;
    }

    [InteropFact]
    public void Seed_003s_GPS_on_a_pseudo_terminal_measures_the_serial_delay_then_serves_stratum_1_to_NTPsec_and_chronyd()
    {
        using var ns = new NetworkNamespace();
        string gps = Path.Combine(ns.Directory, "gps0");
        Daemon writer = Writer(ns, "--link", gps, "--delay", "0.726", "--seconds", "400", "--bad", "8");
        Assert.True(NetworkNamespace.Await(() => File.Exists(gps), TimeSpan.FromSeconds(10)), writer.Output);

        // Step 1 of seed 003: noselect, time2 0, PPS off; the local clock keeps the daemon synchronized meanwhile.
        string measuring = Broadcasting.Seed("seed003-gps-noselect.conf", ("server 127.127.20.0 mode 17 noselect", "server 127.127.20.0 mode 17 noselect minpoll 4"))
            + $"device 127.127.20.0 timedata {gps}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";
        var clock = Stopwatch.StartNew();
        Daemon first = Broadcasting.StartOurs(ns, measuring);
        var noselect = AwaitRow(ns, "GPS", polls: 3, t => t == ' ', first);
        double measured = clock.Elapsed.TotalSeconds;
        Assert.InRange(noselect.Offset, -731, -721);
        // Association 1, the GPS (cv without one shows the system peer's, here the local clock's).
        CommandResult cv = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "cv &1", "127.0.0.1");
        Assert.Contains("device=\"NMEA GPS Clock\"", cv.Stdout, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"timecode=""\$GPRMC,\d{6}\.00,[AV],"), cv.Stdout);
        Match bad = Regex.Match(cv.Stdout, @"badformat=(\d+)");
        // An invalid fix and a wrong checksum came each of the first 8 seconds (the first ones before the daemon read).
        Assert.True(bad.Success && int.Parse(bad.Groups[1].Value, CultureInfo.InvariantCulture) is >= 4 and <= 16, cv.ToString());
        Assert.Contains("fudgetime2=0.000", cv.Stdout, StringComparison.Ordinal);
        first.Process.Kill();
        first.Process.WaitForExit(5000);

        // Seed 003's full configuration, the device a pty: time2 0.728 (PPS asked for, but there is none here), and
        // four internet servers that cannot be reached from the namespace.
        string stats = Path.Combine(ns.Directory, "stats");
        // The seed downloads leap-seconds.list twice a year; Debian's tzdata has the same file.
        string leapFile = Path.Combine(ns.Directory, "leap-seconds.list");
        File.Copy("/usr/share/zoneinfo/leap-seconds.list", leapFile);
        string full = Broadcasting.Seed("seed003-gps.conf", ("server 127.127.20.0 mode 17 iburst", "server 127.127.20.0 mode 17 iburst minpoll 4"),
                ("statsdir /var/log/ntpstats/", $"statsdir {stats}/"), ("/var/lib/ntp/ntp.drift", Path.Combine(ns.Directory, "ntp.drift")),
                ("leapfile /etc/ntp/leap-seconds.list", $"leapfile {leapFile}"))
            + $"device 127.127.20.0 timedata {gps}\n";
        clock.Restart();
        Daemon second = Broadcasting.StartOurs(ns, full);
        var serving = AwaitRow(ns, "GPS", polls: 2, t => t == '*', second);
        double synced = clock.Elapsed.TotalSeconds;
        Assert.InRange(serving.Offset, -3, 7);
        Assert.Equal(1, Broadcasting.Stratum(ns));
        CommandResult rv = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "rv 0 refid,stratum,tai,leapsec,expire", "127.0.0.1");
        Assert.Contains("refid=GPS", rv.Stdout, StringComparison.Ordinal);
        // Its leapfile is read: TAI-UTC 37 s since 2017, the last leap and the file's expiry as ntpd prints them.
        Assert.Matches(new Regex(@"tai=37,\s+leapsec=201701010000,\s+expire=\d{12}"), rv.Stdout);
        Assert.Matches(new Regex($@"leapfile {Regex.Escape(leapFile)} read \(at start\): \d+ entries, TAI-UTC 37 s"), Broadcasting.Log(ns));
        Assert.Contains("GPS_NMEA(0): flag1 asks for PPS, but /dev/gpspps0", Broadcasting.Log(ns), StringComparison.Ordinal);
        CommandResult named = ns.Run(Short, Sandbox.Out("ntpq"), "-p", "127.0.0.1");
        Assert.Matches(new Regex(@"^\*GPS_NMEA\(0\)\s+\.GPS\.\s+0 l ", RegexOptions.Multiline), named.Stdout);

        // NTPsec's ntpdig sees a stratum-1 server; chronyd takes it as its source and is at stratum 2.
        CommandResult dig = ns.RunUntil(r => r.Stdout.Contains(" s1 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
        Assert.Contains(" s1 ", dig.Stdout, StringComparison.Ordinal);
        string chrony = ns.WriteFile("chrony.conf", $"server 127.0.0.1 iburst minpoll 4 maxpoll 4\nbindcmdaddress /\npidfile {ns.Directory}/chronyd.pid\n");
        Daemon chronyd = ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", chrony);
        CommandResult sources = ns.RunUntil(r => r.Stdout.Contains("^* 127.0.0.1", StringComparison.Ordinal), TimeSpan.FromSeconds(60), Sandbox.Chronyc, "-h", "127.0.0.1", "-n", "sources");
        Assert.Matches(new Regex(@"^\^\* 127\.0\.0\.1\s+1\s", RegexOptions.Multiline), sources.Stdout + chronyd.Output);
        CommandResult tracking = ns.Run(Short, Sandbox.Chronyc, "-h", "127.0.0.1", "-n", "tracking");
        Assert.Contains("Stratum         : 2", tracking.Stdout, StringComparison.Ordinal);

        // The seed's statistics: the GPS's sentences in clockstats, its samples in peerstats, the discipline in loopstats.
        string[] clock0 = File.ReadAllLines(Path.Combine(stats, "clockstats"));
        Assert.Contains(clock0, l => Regex.IsMatch(l, @"^\d{5} \d+\.\d{3} 127\.127\.20\.0 \$GPRMC,\d{6}\.00,A,"));
        Assert.Contains(File.ReadAllLines(Path.Combine(stats, "peerstats")), l => l.Split(' ') is [_, _, "127.127.20.0", _, _, _, _, _]);
        Assert.NotEmpty(File.ReadAllLines(Path.Combine(stats, "loopstats")));
        Figures.Record($"seed 003's clockstats: {clock0[^1]}");

        Figures.Record($"seed 003 GPS on a pty, sentences 726 ms after the second: noselect/time2 0 -> ntpq -pn offset {noselect.Offset:0.000} ms (after {measured:0} s); seed's full config (time2 0.728) -> *GPS_NMEA(0) offset {serving.Offset:+0.000;-0.000} ms jitter {serving.Jitter:0.000} ms, stratum 1 after {synced:0} s; ntpdig s1, chronyd stratum 2");
    }

    [InteropFact]
    public void Gpsd_writes_its_segment_and_our_SHM_driver_reads_it_as_chronyd_does()
    {
        using var ns = new NetworkNamespace();
        ns.OwnIpc();
        // gpsd reads the receiver over TCP, the way gpsfake -t feeds it: gpsd writes no SHM for a pseudo-terminal
        // (its test harness), and gpsfake's own pacing drifts by milliseconds a second.
        Daemon feeder = Writer(ns, "--feed", "29480", "--delay", "0.2", "--seconds", "400");
        Assert.True(NetworkNamespace.Await(() => feeder.Output.Contains("listening", StringComparison.Ordinal), TimeSpan.FromSeconds(10)), feeder.Output);
        Daemon gpsd = ns.Start("/usr/sbin/gpsd", "-n", "-N", "-S", "29481", "tcp://127.0.0.1:29480");
        CommandResult shm = ns.RunUntil(r => r.Stdout.Contains("sample NTP0", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/timeout", "4", "/usr/bin/ntpshmmon", "-n", "2");
        Assert.True(shm.Stdout.Contains("sample NTP0", StringComparison.Ordinal), shm + gpsd.Output);

        // chronyd first, alone on the segment (each reader clears it; two would take turns at random), noselect: with
        // -x it would otherwise correct its own idea of the clock and then measure from that.
        string chrony = ns.WriteFile("chrony.conf", $"refclock SHM 0 refid GPS poll 2 noselect\nbindcmdaddress /\npidfile {ns.Directory}/chronyd.pid\n");
        Daemon chronyd = ns.Start(Sandbox.Chronyd, "-d", "-x", "-u", "root", "-f", chrony);
        CommandResult stats = ns.RunUntil(r => Regex.IsMatch(r.Stdout, @"^GPS\s+(\d+)\s", RegexOptions.Multiline) && int.Parse(Regex.Match(r.Stdout, @"^GPS\s+(\d+)\s", RegexOptions.Multiline).Groups[1].Value, CultureInfo.InvariantCulture) >= 6,
            TimeSpan.FromSeconds(90), Sandbox.Chronyc, "-h", "127.0.0.1", "-n", "sourcestats");
        CommandResult chronyStats = ns.Run(Short, Sandbox.Chronyc, "-h", "127.0.0.1", "-n", "-c", "sources");
        // CSV: mode, state, name, stratum, poll, reach, last rx, adjusted offset, measured offset, error (seconds).
        string[] fields = chronyStats.Stdout.Split('\n').First(l => l.Contains(",GPS,", StringComparison.Ordinal)).Split(',');
        // chronyc's sign: positive when our clock is ahead of the source; ntpq's is the opposite.
        double chronyOffset = -double.Parse(fields[8], CultureInfo.InvariantCulture) * 1e3;
        chronyd.Process.Kill();
        chronyd.Process.WaitForExit(5000);

        Daemon ntpd = Broadcasting.StartOurs(ns, "server 127.127.28.0 minpoll 4 iburst\nfudge 127.127.28.0 refid GPS\n");
        var ours = AwaitRow(ns, "GPS", polls: 3, t => t == '*', ntpd, "127.127.28.0");
        Assert.Equal(1, Broadcasting.Stratum(ns));
        string both = $"ours {ours.Offset} ms, chronyd {chronyOffset} ms\n{chronyStats.Stdout}";
        Assert.True(ours.Offset is > -210 and < -190, both);
        Assert.True(Math.Abs(ours.Offset - chronyOffset) < 5, both);
        CommandResult cv = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "cv", "127.0.0.1");
        Assert.Matches(new Regex(@"timecode=""20\d\d-\d\d-\d\dT"), cv.Stdout);
        Assert.Contains("shm_key=0x4E545030", cv.Stdout, StringComparison.Ordinal);

        Figures.Record($"gpsd (sentences 200 ms after the second) -> SHM 0: our ntpd *SHM(0) stratum 1, ntpq -pn offset {ours.Offset:+0.000;-0.000} ms; chronyd refclock SHM 0 on the same segment: {chronyOffset:+0.000;-0.000} ms (ntpq's sign)");
    }

    [InteropFact]
    public void The_PPS_driver_opens_dev_pps_or_says_plainly_why_it_cannot()
    {
        using var ns = new NetworkNamespace();
        string[] devices = Directory.GetFiles("/dev", "pps*");
        Daemon ntpd = Broadcasting.StartOurs(ns, "server 127.127.22.0 minpoll 4\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n");
        Assert.True(NetworkNamespace.Await(() => Broadcasting.Log(ns).Contains("PPS(0): ", StringComparison.Ordinal), TimeSpan.FromSeconds(20)), Broadcasting.Log(ns) + ntpd.Output);
        string log = Broadcasting.Log(ns);
        CommandResult cv = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "cv", "127.0.0.1");
        Assert.Contains("device=\"PPS Clock Discipline\"", cv.Stdout, StringComparison.Ordinal);
        if (devices.Contains("/dev/pps0"))
        {
            Assert.Contains("PPS(0): /dev/pps0 opened", log, StringComparison.Ordinal);
            Figures.Record("PPS: /dev/pps0 opened by our ntpd");
        }
        else
        {
            // No PPS source on this machine (the kernel has the PPS core but no client driver): the driver names
            // the device and the error, retries, and the clock status says fault.
            Assert.Contains("PPS(0): /dev/pps0: No such file or directory; trying again every 5 s", log, StringComparison.Ordinal);
            Figures.Record("PPS: no /dev/pps* on this machine; our PPS driver logs '/dev/pps0: No such file or directory' and retries (the PPS logic is tested in the simulator)");
        }
    }
}
