using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>
/// The daemon as a process: under a clock interposer, its signals, -q, -u inside a jail, interface rules, and the
/// octets mode 6 gives a flood. Each test in namespaces of its own; the daemons run with disable ntp and without
/// CAP_SYS_TIME.
/// </summary>
public sealed class DaemonProcessTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private const string LocalClock = """
        server 127.127.1.0
        fudge 127.127.1.0 stratum 10
        disable ntp
        """;

    /// <summary>Compiles the clock interposer (Shims/clockshift.c) into <paramref name="ns"/>'s directory.</summary>
    private static string ClockShift(NetworkNamespace ns)
    {
        string library = Path.Combine(ns.Directory, "clockshift.so");
        using Process gcc = Process.Start(new ProcessStartInfo("gcc", ["-shared", "-fPIC", "-O2", "-o", library, Path.Combine(AppContext.BaseDirectory, "Shims", "clockshift.c"), "-ldl"]) { RedirectStandardError = true })!;
        string errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        Assert.True(gcc.ExitCode == 0, "gcc: " + errors);
        return library;
    }

    private static double Offset(CommandResult ntpdig)
    {
        using JsonDocument json = JsonDocument.Parse(ntpdig.Stdout);
        return json.RootElement.GetProperty("offset").GetDouble();
    }

    [InteropTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Under_a_clock_interposer_the_daemon_serves_the_interposed_time(bool singleThread)
    {
        using var ns = new NetworkNamespace();
        string shim = ClockShift(ns);
        string[] args = ["-n", "-c", ns.WriteFile("ntp.conf", LocalClock)];
        Daemon ntpd = ns.StartWith(new Dictionary<string, string> { ["LD_PRELOAD"] = shim, ["CLOCK_SHIFT"] = "1000" }, Sandbox.Out("ntpd"), singleThread ? [.. args, "--single-thread"] : args);

        // An unshimmed client measures the daemon 1000 s ahead: every clock read of the daemon went through the shim.
        CommandResult ntpdig = ns.RunUntil(r => r.Stdout.Contains("\"stratum\":11", StringComparison.Ordinal), Short, Sandbox.Out("ntpdig"), "-j", "-t", "1", "127.0.0.1");
        Assert.True(ntpdig.Stdout.Contains("\"stratum\":11", StringComparison.Ordinal), ntpdig + ntpd.Output);
        double offset = Offset(ntpdig);
        Assert.InRange(offset, 1000 - 0.01, 1000 + 0.01);

        // The one-thread setting has no serving or resolver thread: the loop is the main thread.
        string[] threads = Directory.GetDirectories($"/proc/{ntpd.Process.Id}/task").Select(t => File.ReadAllText(Path.Combine(t, "comm")).Trim()).ToArray();
        Assert.Equal(!singleThread, threads.Any(t => t.StartsWith("ntp-serve", StringComparison.Ordinal)));
        Assert.Equal(!singleThread, threads.Any(t => t.StartsWith("ntp-resolver", StringComparison.Ordinal)));
        Figures.Record(string.Create(CultureInfo.InvariantCulture, $"clock interposer (+1000 s){(singleThread ? ", --single-thread" : "")}: our ntpdig measured our ntpd {offset:+0.000000;-0.000000} s ahead; {threads.Length} threads"));
    }

    [InteropTheory]
    [InlineData("", "set")]
    [InlineData("tinker step 0.5\n", "slew")]
    public void Minus_q_steps_or_slews_by_the_step_threshold(string tinker, string verb)
    {
        using var ns = new NetworkNamespace();
        string shim = ClockShift(ns);
        // The server runs 0.3 s ahead: beyond the default step threshold (0.128 s), within tinker step 0.5.
        ns.StartWith(new Dictionary<string, string> { ["LD_PRELOAD"] = shim, ["CLOCK_SHIFT"] = "0.3" }, Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("server.conf", LocalClock));
        ns.WaitForNtp(Short);
        string config = ns.WriteFile("client.conf", $"server 127.0.0.1 iburst\ndisable ntp\n{tinker}");

        CommandResult once = ns.Run(TimeSpan.FromSeconds(90), Sandbox.Out("ntpd"), "-q", "-c", config, "--port", "11123");

        Assert.True(once.ExitCode == 0, once.ToString());
        Assert.Matches(new Regex($@"ntpd: time {verb} \+0\.(29|30)\d+s"), once.Stderr);
    }

    [InteropFact]
    public void SIGHUP_reopens_the_log_reads_the_keys_again_and_retries_names_now()
    {
        using var ns = new NetworkNamespace();
        ns.Hosts("127.0.0.1 localhost\n");
        string keys = ns.WriteFile("ntp.keys", "1 SHA1 0102030405060708090a0b0c0d0e0f1011121314\n");
        string log = Path.Combine(ns.Directory, "ntpd.log");
        string config = ns.WriteFile("ntp.conf", LocalClock + $"\nserver ghost.test iburst\nkeys {keys}\ntrustedkey 1 2\nlogfile {log}\n");
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", config);
        ns.WaitForNtp(Short);
        string clientKeys = ns.WriteFile("client.keys", "2 SHA1 a1a2a3a4a5a6a7a8a9b0b1b2b3b4b5b6b7b8b9c0\n");
        CommandResult before = ns.Run(Short, Sandbox.Out("ntpdig"), "-t", "1", "-a", "2", "-k", clientKeys, "127.0.0.1");
        Assert.NotEqual(0, before.ExitCode);

        // Let the name fail until the next try is 8 s away; then give it an address, rotate the log, add key 2.
        Assert.True(NetworkNamespace.Await(() => File.Exists(log) && File.ReadAllText(log).Contains("ghost.test: cannot resolve", StringComparison.Ordinal)
            && File.ReadAllText(log).Contains("retrying in 8 s", StringComparison.Ordinal), Short), File.Exists(log) ? File.ReadAllText(log) : ntpd.Output);
        ns.Hosts("127.0.0.1 localhost\n198.18.9.9 ghost.test\n");
        File.Move(log, log + ".1");
        File.AppendAllText(keys, "2 SHA1 a1a2a3a4a5a6a7a8a9b0b1b2b3b4b5b6b7b8b9c0\n");
        var hangup = Stopwatch.StartNew();
        NetworkNamespace.Signal(ntpd, "HUP");

        Assert.True(NetworkNamespace.Await(() => File.Exists(log) && File.ReadAllText(log).Contains("ghost.test: resolved to 198.18.9.9", StringComparison.Ordinal), TimeSpan.FromSeconds(6)), ntpd.Output);
        double resolvedAfter = hangup.Elapsed.TotalSeconds;
        string fresh = File.ReadAllText(log);
        Assert.Contains("SIGHUP: log file reopened", fresh, StringComparison.Ordinal);
        Assert.Contains("keys file " + keys + " read again: 2 keys", fresh, StringComparison.Ordinal);
        Assert.False(ntpd.Process.HasExited, ntpd.Output);
        CommandResult after = ns.Run(Short, Sandbox.Out("ntpdig"), "-t", "1", "-a", "2", "-k", clientKeys, "127.0.0.1");
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.DoesNotContain("SIGHUP", File.ReadAllText(log + ".1"), StringComparison.Ordinal);
        Figures.Record(string.Create(CultureInfo.InvariantCulture, $"SIGHUP: a pending name resolved {resolvedAfter:0.0} s after the signal (its next try was 8 s away)"));
    }

    [InteropTheory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public void SIGTERM_and_SIGINT_save_the_drift_file_remove_the_pid_file_and_log_the_exit(string signal)
    {
        using var ns = new NetworkNamespace();
        string drift = ns.WriteFile("ntp.drift", "3.25\n");
        string pid = Path.Combine(ns.Directory, "ntpd.pid");
        string log = Path.Combine(ns.Directory, "ntpd.log");
        // A runner started in the background ignores SIGINT, and a process keeps an ignored SIGINT ignored (nohup's
        // rule, which .NET follows): the daemon gets the default disposition back, as from a terminal.
        Daemon ntpd = ns.Start("/usr/bin/env", "--default-signal=INT", Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("ntp.conf", LocalClock + $"\ndriftfile {drift}\n"), "-p", pid, "-l", log);
        ns.WaitForNtp(Short);
        Assert.True(File.Exists(pid));

        NetworkNamespace.Signal(ntpd, signal);

        Assert.True(ntpd.Process.WaitForExit(10_000), ntpd.Output);
        Assert.Equal(0, ntpd.Process.ExitCode);
        Assert.Equal("3.250000\n", File.ReadAllText(drift));
        Assert.False(File.Exists(pid), "the pid file is removed at exit");
        string text = File.ReadAllText(log);
        Assert.Contains($"drift file {drift} saved: 3.250000 PPM", text, StringComparison.Ordinal);
        Assert.Matches(new Regex($@"ntpd exiting on signal SIG{signal}: \d+ packets received"), text);
    }

    [InteropFact]
    public void With_two_addresses_ntpq_to_the_second_gets_its_answer_from_the_second()
    {
        using var ns = new NetworkNamespace();
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("ntp.conf", LocalClock), "-I", "127.0.0.1", "-I", "127.0.0.2");

        // ntpq's socket is connected to the address it asks: an answer from the other address never reaches it.
        CommandResult first = ns.RunUntil(r => r.Stdout.Contains("stratum=11", StringComparison.Ordinal), Short, Sandbox.Out("ntpq"), "-c", "rv 0 stratum", "127.0.0.1");
        CommandResult second = ns.Run(Short, Sandbox.Out("ntpq"), "-c", "rv 0 stratum", "127.0.0.2");

        Assert.True(first.Stdout.Contains("stratum=11", StringComparison.Ordinal), first + ntpd.Output);
        Assert.True(second.ExitCode == 0 && second.Stdout.Contains("stratum=11", StringComparison.Ordinal), second + ntpd.Output);
    }

    [InteropFact]
    public void Minus_u_works_in_a_jail_without_etc_passwd()
    {
        using var ns = new NetworkNamespace();
        string jail = Directory.CreateDirectory(Path.Combine(ns.Directory, "jail")).FullName;
        Daemon ntpd = ns.Start(Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("ntp.conf", LocalClock), "-i", jail, "-u", "nobody:nogroup");

        CommandResult query = ns.RunUntil(r => r.Stdout.Contains(" s11 ", StringComparison.Ordinal), Short, "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

        Assert.True(query.Stdout.Contains(" s11 ", StringComparison.Ordinal), query + ntpd.Output);
        Assert.False(File.Exists(Path.Combine(jail, "etc", "passwd")));
        Assert.Matches(new Regex(@"^Uid:\s+65534\s+65534\s+65534\s+65534$", RegexOptions.Multiline), File.ReadAllText($"/proc/{ntpd.Process.Id}/status"));
        Assert.Equal(jail, new DirectoryInfo($"/proc/{ntpd.Process.Id}/root").ResolveLinkTarget(false)?.FullName);
    }

    [InteropFact]
    public void Seed_000s_client_with_interface_listen_eth0_answers_its_own_ntpq_and_ntpstat_over_loopback()
    {
        using var client = new NetworkNamespace();
        using var lan = new NetworkNamespace();
        client.LinkTo(lan, "198.18.11.2", "198.18.11.1", name: "eth0");
        string seed = File.ReadAllText(Path.Combine(Sandbox.RepoRoot, "tests", "Meridian.Config.Tests", "Seeds", "seed000-client.conf"));
        string log = Path.Combine(client.Directory, "ntpd.log");
        Daemon ntpd = client.Start(Sandbox.Out("ntpd"), "-n", "-c", client.WriteFile("ntp.conf", seed), "-l", log);

        CommandResult rv = client.RunUntil(r => r.ExitCode == 0, Short, Sandbox.Out("ntpq"), "-c", "rv 0 stratum", "127.0.0.1");
        CommandResult stat = client.Run(Short, Sandbox.Out("ntpstat"));
        CommandResult sockets = client.Run(TimeSpan.FromSeconds(10), "/usr/bin/ss", "-ulnH", "sport", "=", ":123");

        Assert.True(rv.ExitCode == 0 && rv.Stdout.Contains("stratum=16", StringComparison.Ordinal), rv + ntpd.Output);
        // Unsynchronised (1), not unreachable (2): no multicast server yet, but the daemon answers.
        Assert.True(stat.ExitCode == 1, stat.ToString());
        Assert.Contains("127.0.0.1:123", sockets.Stdout, StringComparison.Ordinal);
        Assert.Contains("198.18.11.2:123", sockets.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("0.0.0.0:123", sockets.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("interface listen", File.ReadAllText(log), StringComparison.Ordinal);
    }

    [InteropFact]
    public void A_mode_6_flood_from_one_address_draws_back_fewer_octets_than_it_sent()
    {
        using var server = new NetworkNamespace();
        using var client = new NetworkNamespace();
        server.LinkTo(client, "198.18.12.1", "198.18.12.2");
        // Seeds 000 and 004 leave noquery off: mode 6 is open to every host.
        Daemon ntpd = server.Start(Sandbox.Out("ntpd"), "-n", "-c", server.WriteFile("ntp.conf", LocalClock + "\nrestrict default kod nomodify notrap\n"));
        CommandResult rv = client.RunUntil(r => r.Stdout.Contains("stratum=11", StringComparison.Ordinal), Short, Sandbox.Out("ntpq"), "-c", "rv 0 stratum", "198.18.12.1");
        Assert.True(rv.Stdout.Contains("stratum=11", StringComparison.Ordinal), rv + ntpd.Output);

        CommandResult flood = client.Run(TimeSpan.FromSeconds(60), "dotnet", Path.Combine(AppContext.BaseDirectory, "flood.dll"),
            "--server", "198.18.12.1", "--flooder", "198.18.12.2", "--mode6", "1000");

        Match m = Regex.Match(flood.Stdout, @"^mode6: sent 1000 READVAR requests \((\d+) octets\) in [\d.]+ s; got (\d+) answers \((\d+) octets\): ([\d.]+) octets out per octet in$", RegexOptions.Multiline);
        Assert.True(m.Success, flood + ntpd.Output);
        long octetsIn = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        long octetsOut = long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        Assert.Equal(12_000, octetsIn);
        Assert.InRange(octetsOut, 1, octetsIn - 1);
        Figures.Record(flood.Stdout.Trim());
    }

    [InteropFact]
    public void Configtest_warns_about_each_line_not_in_effect_and_refuses_nts_on_a_peer()
    {
        using var ns = new NetworkNamespace();
        string config = ns.WriteFile("ntp.conf", "server 127.127.1.0\nbroadcast 224.0.1.1 minpoll 3 iburst\nserver 192.0.2.1 xleave\nstatistics loopstats timingstats\n");
        CommandResult test = ns.Run(Short, Sandbox.Out("ntpd"), "--configtest", "-c", config);
        Assert.Equal(0, test.ExitCode);
        // broadcast is in effect; iburst on it means nothing.
        Assert.DoesNotContain("'broadcast' is read", test.Stderr, StringComparison.Ordinal);
        Assert.Contains($"{config}:2:31: warning: 'iburst' is read and checked but not in effect: it means nothing on a broadcast line", test.Stderr, StringComparison.Ordinal);
        Assert.Contains($"{config}:3:18: warning: 'xleave' is read and checked but not in effect", test.Stderr, StringComparison.Ordinal);
        // loopstats is written; timingstats is not.
        Assert.DoesNotContain("'statistics' is read", test.Stderr, StringComparison.Ordinal);
        Assert.Contains($"{config}:4:22: warning: 'timingstats' is read and checked but not in effect", test.Stderr, StringComparison.Ordinal);
        Assert.Contains("(3 associations, 0 restrict lines, 3 warning(s), 3 of them about lines not in effect)", test.Stdout, StringComparison.Ordinal);

        // NTS on a peer line means nothing: refused at its column.
        string nts = ns.WriteFile("nts.conf", "peer time.cloudflare.com nts\n");
        CommandResult refused = ns.Run(Short, Sandbox.Out("ntpd"), "--configtest", "-c", nts);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"{nts}:1:26: error: NTS authenticates a server", refused.Stderr, StringComparison.Ordinal);
    }

    [InteropFact]
    public void Our_ntpdig_with_a_key_reads_T1_after_the_MAC_so_the_first_sample_is_not_off()
    {
        using var ns = new NetworkNamespace();
        string keys = ns.WriteFile("ntp.keys", "1 SHA1 0102030405060708090a0b0c0d0e0f1011121314\n");
        ns.Start(Sandbox.Out("ntpd"), "-n", "-c", ns.WriteFile("ntp.conf", LocalClock + $"\nkeys {keys}\ntrustedkey 1\n"));
        ns.WaitForNtp(Short);

        CommandResult signed = ns.RunUntil(r => r.Stdout.Contains("\"stratum\":11", StringComparison.Ordinal), Short, Sandbox.Out("ntpdig"), "-j", "-t", "1", "-a", "1", "-k", keys, "127.0.0.1");
        Assert.True(signed.ExitCode == 0, signed.ToString());
        double offset = Offset(signed);
        // On loopback the offset is the two clocks' agreement: they are one clock. 1.8 ms when T1 came before the MAC.
        Assert.InRange(Math.Abs(offset), 0, 0.0005);
        Figures.Record(string.Create(CultureInfo.InvariantCulture, $"our ntpdig -a (SHA1) -> our ntpd on loopback: first sample offset {offset * 1e3:+0.000;-0.000} ms"));
    }
}
