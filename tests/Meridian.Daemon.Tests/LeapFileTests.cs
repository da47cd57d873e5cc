using System.Net;
using System.Security.Cryptography;
using System.Text;
using Meridian.Config;
using Meridian.Daemon;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon.Tests;

public sealed class LeapFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("meridian-leap-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static long Ntp(DateTime utc) => (long)(utc - DateTime.UnixEpoch).TotalSeconds + NtpTimestamp.UnixEpochOffsetSeconds;

    /// <summary>A leap-seconds.list with NIST's hash: SHA-1 of the digits of #$, #@ and each data line's two fields.</summary>
    private static string File(long expires, params (long Seconds, int Tai)[] entries)
    {
        const long updated = 3960835200;
        string digits = $"{updated}{expires}" + string.Concat(entries.Select(e => $"{e.Seconds}{e.Tai}"));
        byte[] sha = SHA1.HashData(Encoding.ASCII.GetBytes(digits));
        string hash = string.Join(' ', Enumerable.Range(0, 5).Select(w => Convert.ToHexStringLower(sha, w * 4, 4)));
        return $"#$\t{updated}\n#@\t{expires}\n" + string.Concat(entries.Select(e => $"{e.Seconds}\t{e.Tai}\t# data\n")) + $"#h\t{hash}\n";
    }

    private static readonly (long, int)[] Entries = [(3550089600, 35), (3644697600, 36), (3692217600, 37)];

    private sealed class NoTransport : INtpTransport
    {
        public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest) => NtpTimestamp.Zero;

        public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest) => NtpTimestamp.Zero;
    }

    private static NtpEngine Engine() => new(new EngineSettings(), LinuxClock.Instance, NoClockControl.Instance, new NoTransport(), CryptoRandomSource.Instance);

    [Fact]
    public void A_file_with_a_bad_hash_is_refused_with_a_log_line_and_the_old_table_stays_then_a_changed_file_is_read_again()
    {
        string path = Path.Combine(_directory, "leap-seconds.list");
        long expires = Ntp(DateTime.UtcNow.AddDays(200));
        System.IO.File.WriteAllText(path, File(expires, Entries));
        var text = new StringWriter();
        NtpEngine engine = Engine();
        var leapFile = new LeapFile(path, engine, LinuxClock.Instance, Log.ToWriter("ntpd", text));

        Assert.True(leapFile.Load("at start"));
        LeapTable first = Assert.IsType<LeapTable>(engine.LeapTable);
        Assert.Same(leapFile.Table, first);
        Assert.Contains($"leapfile {path} read (at start): 3 entries, TAI-UTC 37 s, no leap to come, updated 2025-07-07, expires {LeapTable.ToUtc(expires):yyyy-MM-dd}, hash OK", text.ToString(), StringComparison.Ordinal);
        // 200 days to go: no expiry warning.
        Assert.DoesNotContain("expires on", text.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("expired on", text.ToString(), StringComparison.Ordinal);

        // One digit changed: same size, the hash no longer matches.
        System.IO.File.WriteAllText(path, File(expires, Entries).Replace("3692217600\t37", "3692217601\t37", StringComparison.Ordinal));
        Assert.False(leapFile.Load("SIGHUP"));
        Assert.Contains($"leapfile {path} refused (SIGHUP): {path}:6:1: error: the SHA-1 hash ('#h') does not match the data: the file was changed or truncated; refused; the previous table stays in use", text.ToString(), StringComparison.Ordinal);
        Assert.Same(first, engine.LeapTable);
        Assert.Same(first, leapFile.Table);

        // A new valid file (another size) is noticed by the minute's look at it.
        System.IO.File.WriteAllText(path, File(expires, [.. Entries, (Ntp(DateTime.UtcNow.AddDays(100).Date), 38)]));
        leapFile.Tick(1000);
        Assert.Same(first, engine.LeapTable);
        leapFile.Tick(1000 + LeapFile.CheckInterval);
        Assert.Equal(4, engine.LeapTable!.Transitions.Count);
        Assert.Contains($"leapfile {path} read (the file changed): 4 entries, TAI-UTC 37 s, next leap insertion at", text.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_expired_file_or_one_expiring_within_28_days_is_warned_about_with_how_to_update_it()
    {
        string expired = Path.Combine(_directory, "expired.list");
        System.IO.File.WriteAllText(expired, File(3991593600, Entries)); // 2026-06-28, as tzdata's copy on this machine
        var text = new StringWriter();
        var leapFile = new LeapFile(expired, Engine(), LinuxClock.Instance, Log.ToWriter("ntpd", text));
        Assert.True(leapFile.Load("at start"));
        int days = (int)Math.Round((DateTime.UtcNow - new DateTime(2026, 6, 28, 0, 0, 0, DateTimeKind.Utc)).TotalDays, MidpointRounding.AwayFromZero);
        Assert.Contains($"leapfile {expired} expired on 2026-06-28 ({days} days ago): leap seconds announced since are unknown to it; get a current leap-seconds.list", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("/usr/share/zoneinfo/leap-seconds.list", text.ToString(), StringComparison.Ordinal);

        string soon = Path.Combine(_directory, "soon.list");
        DateTime inTenDays = DateTime.UtcNow.Date.AddDays(11);
        System.IO.File.WriteAllText(soon, File(Ntp(inTenDays), Entries));
        var soonText = new StringWriter();
        var soonFile = new LeapFile(soon, Engine(), LinuxClock.Instance, Log.ToWriter("ntpd", soonText));
        Assert.True(soonFile.Load("at start"));
        Assert.Matches($@"leapfile {System.Text.RegularExpressions.Regex.Escape(soon)} expires on {inTenDays:yyyy-MM-dd}, in 1[01] days; get a current", soonText.ToString());

        // The warning comes again a day later, not every minute.
        int before = soonText.ToString().Split('\n').Count(l => l.Contains("expires on", StringComparison.Ordinal));
        soonFile.Tick(0);
        soonFile.Tick(LeapFile.CheckInterval);
        Assert.Equal(before, soonText.ToString().Split('\n').Count(l => l.Contains("expires on", StringComparison.Ordinal)));
        soonFile.Tick(LeapFile.WarningInterval);
        Assert.Equal(before + 1, soonText.ToString().Split('\n').Count(l => l.Contains("expires on", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_daemon_reads_the_leapfile_at_start_and_on_sighup_keeps_its_table_when_the_new_file_is_bad()
    {
        string path = Path.Combine(_directory, "leap-seconds.list");
        System.IO.File.WriteAllText(path, File(Ntp(DateTime.UtcNow.AddDays(200)), Entries));
        NtpConfiguration config = ConfigParser.Parse($"server 127.127.1.0\nfudge 127.127.1.0 stratum 10\ndisable ntp\nleapfile {path}\nleapsmearinterval 86400\n", "test.conf");
        Assert.False(config.HasErrors, string.Join("\n", config.Diagnostics));
        Assert.Empty(config.NotInEffect);
        var text = new StringWriter();
        var log = Log.ToWriter("ntpd", TextWriter.Synchronized(text));
        using var daemon = new NtpDaemon(config, new DaemonOptions { Port = 0, ListenAddresses = [IPAddress.Loopback] }, log, LinuxClock.Instance, -20);
        Assert.Equal(86400, daemon.Plan.Engine.LeapSmearInterval);
        daemon.Start();
        LeapTable first = Assert.IsType<LeapTable>(daemon.LeapFile!.Table);
        Assert.Contains($"leapfile {path} read (at start)", text.ToString(), StringComparison.Ordinal);
        daemon.RunInBackground();

        System.IO.File.WriteAllText(path, "#@\t3991593600\n3692217600\t37\n#h\t00000000 00000000 00000000 00000000 00000000\n");
        daemon.RequestReload();
        var wait = System.Diagnostics.Stopwatch.StartNew();
        while (!text.ToString().Contains("refused (SIGHUP)", StringComparison.Ordinal) && wait.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(20);
        }

        Assert.Contains($"leapfile {path} refused (SIGHUP): {path}:3:1: error: the SHA-1 hash ('#h') does not match the data", text.ToString(), StringComparison.Ordinal);
        Assert.Same(first, daemon.LeapFile.Table);
    }

    [Fact]
    public void A_missing_file_is_logged_and_read_once_it_appears()
    {
        string path = Path.Combine(_directory, "later.list");
        var text = new StringWriter();
        NtpEngine engine = Engine();
        var leapFile = new LeapFile(path, engine, LinuxClock.Instance, Log.ToWriter("ntpd", text));

        Assert.False(leapFile.Load("at start"));
        Assert.Contains($"leapfile {path} refused (at start): the leap seconds file does not exist; no leap second table is in use", text.ToString(), StringComparison.Ordinal);
        Assert.Null(engine.LeapTable);

        System.IO.File.WriteAllText(path, File(Ntp(DateTime.UtcNow.AddDays(200)), Entries));
        leapFile.Tick(0);
        leapFile.Tick(LeapFile.CheckInterval);
        Assert.NotNull(engine.LeapTable);
        Assert.Contains($"leapfile {path} read (the file changed): 3 entries", text.ToString(), StringComparison.Ordinal);
    }
}
