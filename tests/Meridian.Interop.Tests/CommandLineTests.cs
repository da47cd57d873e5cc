using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>ntpd's command line and the seed configurations, run for real in network namespaces.</summary>
public sealed class CommandLineTests
{
    private const string LocalClock = """
        server 127.127.1.0
        fudge 127.127.1.0 stratum 10
        disable ntp
        """;

    private static readonly string SeedDirectory = Path.Combine(Sandbox.RepoRoot, "tests", "Meridian.Config.Tests", "Seeds");

    /// <summary>
    /// Every seed configuration: --configtest accepts it, and the daemon starts on it and keeps running (each in a
    /// namespace of its own: only loopback, so names do not resolve and distant servers are unreachable; the clock
    /// cannot be written; drift and log files go to the namespace's directory).
    /// </summary>
    [InteropFact]
    public void The_daemon_starts_on_every_seed_configuration()
    {
        string[] seeds = Directory.GetFiles(SeedDirectory, "*.conf").Select(Path.GetFileName).ToArray()!;
        var namespaces = new List<NetworkNamespace>();
        try
        {
            var started = new List<(string Seed, NetworkNamespace Ns, Daemon Ntpd, string Log)>();
            foreach (string seed in seeds)
            {
                var ns = new NetworkNamespace();
                namespaces.Add(ns);
                foreach (string file in Directory.GetFiles(SeedDirectory))
                {
                    File.Copy(file, Path.Combine(ns.Directory, Path.GetFileName(file)));
                }

                string config = Path.Combine(ns.Directory, seed);
                CommandResult test = ns.Run(TimeSpan.FromSeconds(30), Sandbox.Out("ntpd"), "--configtest", "-c", config);
                Assert.True(test.ExitCode == 0 && test.Stdout.Contains("configuration OK", StringComparison.Ordinal), seed + ": " + test);
                string log = Path.Combine(ns.Directory, "ntpd.log");
                // -f and -s keep the seeds' drift and statistics files in the test's directory.
                started.Add((seed, ns, ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config, "-f", Path.Combine(ns.Directory, "drift"), "-s", Path.Combine(ns.Directory, "stats"), "-l", log), log));
            }

            foreach ((string seed, NetworkNamespace ns, Daemon ntpd, string log) in started)
            {
                // Each daemon answers its own ntpq over loopback once it runs (seed 000's client has 'interface listen eth0').
                CommandResult rv = ns.RunUntil(r => r.Stdout.Contains("version=", StringComparison.Ordinal) || ntpd.Process.HasExited, TimeSpan.FromSeconds(30), Sandbox.Out("ntpq"), "-c", "rv 0 version,stratum", "127.0.0.1");
                string text = File.Exists(log) ? File.ReadAllText(log) : "";
                Assert.False(ntpd.Process.HasExited, $"{seed}: ntpd exited\n{ntpd.Output}{text}");
                Assert.True(rv.Stdout.Contains("version=", StringComparison.Ordinal), $"{seed}: {rv}\n{text}");
                // Lines read but not in effect are warnings that name their place, in the log as in --configtest.
                foreach (Match warning in Regex.Matches(text, @"warning: '([^']+)' is read and checked but not in effect"))
                {
                    Assert.Matches(new Regex(@"\S+\.conf:\d+:\d+: warning: '" + Regex.Escape(warning.Groups[1].Value) + "'"), text);
                }

                Assert.Contains("Starting", text, StringComparison.Ordinal);
                if (File.ReadAllText(Path.Combine(SeedDirectory, seed)).Contains("\nrestrict", StringComparison.Ordinal))
                {
                    // restrict is in effect now: the daemon no longer names it as parsed only.
                    Assert.DoesNotContain("'restrict' is read and checked", text, StringComparison.Ordinal);
                }
            }

            // The seed 000 server serves its local clock at stratum 10 + 1.
            NetworkNamespace server = started.Single(s => s.Seed == "seed000-server.conf").Ns;
            CommandResult query = server.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
            Assert.Contains(" s11 ", query.Stdout, StringComparison.Ordinal);
            // It logs its statistics, as the seed asks, under -s.
            Assert.True(NetworkNamespace.Await(() => File.Exists(Path.Combine(server.Directory, "stats", "peerstats")), TimeSpan.FromSeconds(30)));
            // The NMEA driver is in effect: without the receiver it names the device and keeps trying.
            string gpsLog = started.Single(s => s.Seed == "seed003-gps.conf").Log;
            NetworkNamespace.Await(() => File.ReadAllText(gpsLog).Contains("GPS_NMEA(0): /dev/gps0:", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
            string gps = File.ReadAllText(gpsLog);
            Assert.Contains("GPS_NMEA(0): /dev/gps0: No such file or directory; trying again every 5 s", gps, StringComparison.Ordinal);
            Assert.DoesNotContain("driver type 20", gps, StringComparison.Ordinal);
            Assert.Contains("configured server 198.60.22.240 iburst minpoll 6 maxpoll 10 version 4", gps, StringComparison.Ordinal);
            string slew = File.ReadAllText(started.Single(s => s.Seed == "seed003-slew.conf").Log);
            Assert.Contains("configured server 10.48.3.182 prefer minpoll 4 maxpoll 4 version 4", slew, StringComparison.Ordinal);
            string moscow = File.ReadAllText(started.Single(s => s.Seed == "seed004-moscow.conf").Log);
            Assert.Contains("configured peer 130.43.2.2 minpoll 6 maxpoll 10 version 1", moscow, StringComparison.Ordinal);
            Assert.Contains("configured broadcast 10.0.246.255 minpoll 6 ttl 1 version 4", moscow, StringComparison.Ordinal);
            Assert.DoesNotContain("'broadcast' is read and checked", moscow, StringComparison.Ordinal);
            Assert.DoesNotContain("'broadcastclient' is read and checked", File.ReadAllText(started.Single(s => s.Seed == "seed004-chicago.conf").Log), StringComparison.Ordinal);
            // A working directive is never called unavailable (seed 000's client: interface listen eth0).
            string client = File.ReadAllText(started.Single(s => s.Seed == "seed000-client.conf").Log);
            Assert.DoesNotContain("'interface", client, StringComparison.Ordinal);
            Assert.DoesNotContain("not available in this build", client, StringComparison.Ordinal);
            // No eth0 in this namespace: the group is named, with no interface to join it on.
            Assert.Contains("multicast group 224.0.1.1: no multicast interface to join it on", client, StringComparison.Ordinal);
        }
        finally
        {
            foreach (NetworkNamespace ns in namespaces)
            {
                ns.Dispose();
            }
        }
    }

    [InteropFact]
    public void Configtest_reports_errors_with_their_place_and_exits_1()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntp.conf", "server 127.127.1.0\nrestrict default nomodfiy\n");
        CommandResult result = ns.Run(TimeSpan.FromSeconds(30), Sandbox.Out("ntpd"), "--configtest", "-c", config);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{config}:2:18: error: unknown restrict flag 'nomodfiy' (did you mean 'nomodify'?)", result.Stderr, StringComparison.Ordinal);
        CommandResult start = ns.Run(TimeSpan.FromSeconds(30), Sandbox.Out("ntpd"), "-n", "-c", config);
        Assert.Equal(1, start.ExitCode);
        Assert.Contains("has errors; not starting", start.Stderr, StringComparison.Ordinal);
    }

    [InteropFact]
    public void Minus_u_drops_to_the_user_after_binding_port_123()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntp.conf", LocalClock);
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config, "-u", "nobody:nogroup");

        CommandResult query = ns.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

        Assert.Contains(" s11 ", query.Stdout, StringComparison.Ordinal);
        string status = File.ReadAllText($"/proc/{ntpd.Process.Id}/status");
        Assert.Matches(new Regex(@"^Uid:\s+65534\s+65534\s+65534\s+65534$", RegexOptions.Multiline), status);
        Assert.Contains("running as nobody:nogroup", ntpd.Output, StringComparison.Ordinal);
    }

    [InteropFact]
    public void Without_minus_n_ntpd_detaches_into_its_own_session()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntp.conf", LocalClock);
        string pidFile = Path.Combine(ns.Directory, "ntpd.pid");
        var clock = Stopwatch.StartNew();
        CommandResult parent = ns.Run(TimeSpan.FromSeconds(30), Sandbox.Out("ntpd"), "-c", config, "-p", pidFile, "-l", Path.Combine(ns.Directory, "ntpd.log"));
        Assert.Equal(0, parent.ExitCode);
        while (!File.Exists(pidFile) && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            Thread.Sleep(100);
        }

        int pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using Process child = Process.GetProcessById(pid);
        try
        {
            // /proc/PID/stat after the name: state, ppid, pgrp, session; a session leader's session is its own PID.
            string[] stat = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(pid.ToString(System.Globalization.CultureInfo.InvariantCulture), stat[3]);
            CommandResult query = ns.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
            Assert.Contains(" s11 ", query.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            child.Kill();
            child.WaitForExit(5000);
        }
    }

    [InteropFact]
    public void Minus_i_serves_from_inside_a_chroot_jail()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntp.conf", LocalClock);
        string jail = Directory.CreateDirectory(Path.Combine(ns.Directory, "jail")).FullName;
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config, "-i", jail);

        CommandResult query = ns.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

        Assert.Contains(" s11 ", query.Stdout, StringComparison.Ordinal);
        Assert.Contains($"chroot to {jail}", ntpd.Output, StringComparison.Ordinal);
        Assert.Equal(jail, new DirectoryInfo($"/proc/{ntpd.Process.Id}/root").ResolveLinkTarget(false)?.FullName);
    }

    [InteropFact]
    public void Interface_listen_by_name_binds_that_interfaces_addresses()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntp.conf", LocalClock + "\ninterface listen lo\n");
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config);

        CommandResult query = ns.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");
        CommandResult sockets = ns.Run(TimeSpan.FromSeconds(10), "/usr/bin/ss", "-ulnH", "sport", "=", ":123");

        Assert.Contains(" s11 ", query.Stdout, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:123", sockets.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("0.0.0.0:123", sockets.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("no such interface", ntpd.Output, StringComparison.Ordinal);
    }
}
