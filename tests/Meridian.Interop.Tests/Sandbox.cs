using System.Diagnostics;
using System.Text;

namespace Meridian.Interop.Tests;

/// <summary>Where the binaries under test and the reference daemons are, and whether this machine can run them.</summary>
internal static class Sandbox
{
    public static readonly string RepoRoot = FindRepoRoot();

    /// <summary>A published tool; MERIDIAN_OUT_DIR points the tests at other binaries (an older build, to show a defect).</summary>
    public static string Out(string tool) => Path.Combine(Environment.GetEnvironmentVariable("MERIDIAN_OUT_DIR") ?? Path.Combine(RepoRoot, "out"), tool);

    public static string Chronyd => Environment.GetEnvironmentVariable("MERIDIAN_CHRONYD") ?? Path.Combine(RepoRoot, ".cache", "chrony", "usr", "sbin", "chronyd");

    public static string Chronyc => Environment.GetEnvironmentVariable("MERIDIAN_CHRONYC") ?? Path.Combine(RepoRoot, ".cache", "chrony", "usr", "bin", "chronyc");

    /// <summary>Why the end-to-end tests cannot run here, or null when they can.</summary>
    public static string? MissingPrerequisite()
    {
        if (!File.Exists("/proc/self/status"))
        {
            return "not Linux";
        }

        if (!IsRoot())
        {
            return "network namespaces need root";
        }

        foreach (string path in new[] { Out("ntpd"), Out("ntpdate"), Out("ntpdig"), Chronyd, Chronyc, "/usr/sbin/ntpd", "/usr/bin/ntpdig", "/usr/sbin/ntpdate", "/usr/bin/setpriv", "/usr/sbin/gpsd", "/usr/bin/nsenter", "/usr/bin/ntpviz" })
        {
            if (!File.Exists(path))
            {
                return $"{path} is missing (./test.sh installs and builds everything)";
            }
        }

        return null;
    }

    private static bool IsRoot()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                return line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0";
            }
        }

        return false;
    }

    private static string FindRepoRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Meridian.sln")))
            {
                return dir;
            }
        }

        throw new InvalidOperationException("Meridian.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// A test that runs real daemons. Where the machine cannot (no root, tools not installed) it is skipped, unless
/// MERIDIAN_REQUIRE_INTEROP=1 (set by ./test.sh), where a missing prerequisite is a failure.
/// </summary>
internal sealed class InteropTheoryAttribute : TheoryAttribute
{
    public InteropTheoryAttribute()
    {
        string? missing = Sandbox.MissingPrerequisite();
        if (missing is not null && Environment.GetEnvironmentVariable("MERIDIAN_REQUIRE_INTEROP") != "1")
        {
            Skip = missing;
        }
    }
}

internal sealed class InteropFactAttribute : FactAttribute
{
    public InteropFactAttribute()
    {
        string? missing = Sandbox.MissingPrerequisite();
        if (missing is not null && Environment.GetEnvironmentVariable("MERIDIAN_REQUIRE_INTEROP") != "1")
        {
            Skip = missing;
        }
    }
}

/// <summary>The output of a finished command.</summary>
internal sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
}

/// <summary>A process started in a namespace; stopped by its PID when the namespace goes.</summary>
internal sealed class Daemon(Process process, StringBuilder output)
{
    public Process Process { get; } = process;

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }
}

/// <summary>
/// A private network namespace with its own loopback and port 123. Everything runs there with CAP_SYS_TIME removed,
/// so nothing a test starts can change this machine's clock. Disposing stops the processes it started and deletes
/// the namespace.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private static int s_counter;
    private readonly List<Daemon> _daemons = new();

    public NetworkNamespace()
    {
        Name = $"meridian-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        Directory = System.IO.Directory.CreateTempSubdirectory("meridian-e2e-").FullName;
        Check(Host("ip", "netns", "add", Name));
        Check(Host("ip", "-n", Name, "link", "set", "lo", "up"));
    }

    public string Name { get; }

    private string? _ipc;

    /// <summary>
    /// Gives what runs here a System V IPC namespace of its own (bound to a file, so that every process started
    /// later joins it): shared-memory segments such as the SHM reference clock's are then the test's alone.
    /// </summary>
    public void OwnIpc()
    {
        _ipc = Path.Combine(Directory, "ipc");
        File.WriteAllText(_ipc, "");
        Check(Host("unshare", "--ipc=" + _ipc, "true"));
    }

    /// <summary>
    /// Joins this namespace to <paramref name="other"/> with a veth pair, this end <paramref name="address"/>, the
    /// other <paramref name="otherAddress"/> (both /24 from 198.18.0.0/15); returns the other side's interface name.
    /// The pair goes with the namespaces.
    /// </summary>
    public string LinkTo(NetworkNamespace other, string address, string otherAddress, string? name = null)
    {
        int n = Interlocked.Increment(ref s_counter);
        string a = $"mv{Environment.ProcessId % 100000}x{n}a";
        string b = $"mv{Environment.ProcessId % 100000}x{n}b";
        Check(Host("ip", "link", "add", a, "type", "veth", "peer", "name", b));
        Check(Host("ip", "link", "set", a, "netns", Name));
        if (name is not null)
        {
            // This end under a name of the test's choosing inside its namespace (seed 000 says eth0).
            Check(Host("ip", "-n", Name, "link", "set", a, "name", name));
            a = name;
        }

        Check(Host("ip", "link", "set", b, "netns", other.Name));
        Check(Host("ip", "-n", Name, "addr", "add", address + "/24", "dev", a));
        Check(Host("ip", "-n", other.Name, "addr", "add", otherAddress + "/24", "dev", b));
        Check(Host("ip", "-n", Name, "link", "set", a, "up"));
        Check(Host("ip", "-n", other.Name, "link", "set", b, "up"));
        return b;
    }

    /// <summary>A bridge in this namespace: a switch, with multicast snooping off so that every port hears every group.</summary>
    public void AddBridge(string name)
    {
        Check(Host("ip", "-n", Name, "link", "add", name, "type", "bridge", "mcast_snooping", "0"));
        Check(Host("ip", "-n", Name, "link", "set", name, "up"));
    }

    /// <summary>
    /// Plugs this namespace into <paramref name="bridge"/> of <paramref name="lan"/>: a veth whose end here is
    /// <paramref name="name"/> with <paramref name="address"/>/24 and its broadcast address, and seed 000's route for
    /// multicast (<c>route add -net 224.0.0.0 netmask 240.0.0.0 eth0</c>).
    /// </summary>
    public void PlugInto(NetworkNamespace lan, string bridge, string address, string name = "eth0")
    {
        int n = Interlocked.Increment(ref s_counter);
        string a = $"mv{Environment.ProcessId % 100000}x{n}a";
        string b = $"mv{Environment.ProcessId % 100000}x{n}b";
        Check(Host("ip", "link", "add", a, "type", "veth", "peer", "name", b));
        Check(Host("ip", "link", "set", a, "netns", Name));
        Check(Host("ip", "-n", Name, "link", "set", a, "name", name));
        Check(Host("ip", "link", "set", b, "netns", lan.Name));
        Check(Host("ip", "-n", lan.Name, "link", "set", b, "master", bridge));
        Check(Host("ip", "-n", lan.Name, "link", "set", b, "up"));
        Check(Host("ip", "-n", Name, "addr", "add", address + "/24", "brd", "+", "dev", name));
        Check(Host("ip", "-n", Name, "link", "set", name, "up"));
        Check(Host("ip", "-n", Name, "route", "add", "224.0.0.0/4", "dev", name));
    }

    /// <summary>
    /// Gives the namespace its own <c>/etc/hosts</c>: <c>ip netns exec</c> bind-mounts <c>/etc/netns/NAME/hosts</c> over
    /// it for the programs it starts, so names resolve without any DNS server. Removed on dispose.
    /// </summary>
    public void Hosts(string content)
    {
        string directory = Path.Combine("/etc/netns", Name);
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "hosts"), content);
    }

    /// <summary>A scratch directory for configuration files and logs, removed on dispose.</summary>
    public string Directory { get; }

    public string WriteFile(string name, string content)
    {
        string path = Path.Combine(Directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Starts a long-running program in the namespace.</summary>
    public Daemon Start(string program, params string[] args) => StartWith(new Dictionary<string, string>(), program, args);

    /// <summary>Starts a long-running program in the namespace with more environment variables (LD_PRELOAD, say).</summary>
    public Daemon StartWith(IReadOnlyDictionary<string, string> environment, string program, params string[] args)
    {
        var output = new StringBuilder();
        ProcessStartInfo info = InNamespace(program, args);
        foreach ((string key, string value) in environment)
        {
            info.Environment[key] = value;
        }

        Process process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var daemon = new Daemon(process, output);
        _daemons.Add(daemon);
        return daemon;
    }

    /// <summary>Sends <paramref name="signal"/> (HUP, TERM, ...) to a process this namespace started.</summary>
    public static void Signal(Daemon daemon, string signal) =>
        Check(Host("kill", "-" + signal, daemon.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Waits for <paramref name="condition"/> (checked every 100 ms) up to <paramref name="within"/>; whether it came.</summary>
    public static bool Await(Func<bool> condition, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > within)
            {
                return false;
            }

            Thread.Sleep(100);
        }

        return true;
    }

    /// <summary>Runs a program in the namespace to completion (killed after <paramref name="timeout"/>).</summary>
    public CommandResult Run(TimeSpan timeout, string program, params string[] args) => Execute(InNamespace(program, args), timeout);

    /// <summary>Runs a program in the namespace with <paramref name="directory"/> as its working directory.</summary>
    public CommandResult RunIn(string directory, TimeSpan timeout, string program, params string[] args)
    {
        ProcessStartInfo info = InNamespace(program, args);
        info.WorkingDirectory = directory;
        return Execute(info, timeout);
    }

    /// <summary>Runs again until <paramref name="done"/> holds or <paramref name="within"/> has passed; returns the last result.</summary>
    public CommandResult RunUntil(Func<CommandResult, bool> done, TimeSpan within, string program, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            CommandResult result = Run(TimeSpan.FromSeconds(20), program, args);
            if (done(result) || clock.Elapsed > within)
            {
                return result;
            }

            Thread.Sleep(500);
        }
    }

    /// <summary>Waits until something answers NTP on 127.0.0.1:123 in the namespace.</summary>
    public void WaitForNtp(TimeSpan within) =>
        RunUntil(r => r.Stdout.Contains(" s", StringComparison.Ordinal) || r.Stderr.Contains("dropped", StringComparison.Ordinal), within, "/usr/bin/ntpdig", "-t", "1", "127.0.0.1");

    public void Dispose()
    {
        foreach (Daemon daemon in _daemons)
        {
            try
            {
                if (!daemon.Process.HasExited)
                {
                    daemon.Process.Kill();
                    daemon.Process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            daemon.Process.Dispose();
        }

        Host("ip", "netns", "del", Name);
        if (_ipc is not null)
        {
            Host("umount", _ipc);
        }

        foreach (string directory in new[] { Directory, Path.Combine("/etc/netns", Name) })
        {
            try
            {
                System.IO.Directory.Delete(directory, true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private ProcessStartInfo InNamespace(string program, string[] args)
    {
        // ip netns exec and setpriv both exec the next program, so the PID we hold is the program's own.
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] ipc = _ipc is null ? [] : ["/usr/bin/nsenter", "--ipc=" + _ipc, "--"];
        foreach (string a in (string[])["netns", "exec", Name, .. ipc, "/usr/bin/setpriv", "--bounding-set=-sys_time", "--inh-caps=-sys_time", "--", program])
        {
            info.ArgumentList.Add(a);
        }

        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["MERIDIAN_FORBID_CLOCK_WRITES"] = "1";
        info.Environment["TZ"] = "UTC";
        return info;
    }

    private static CommandResult Host(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        return Execute(info, TimeSpan.FromSeconds(20));
    }

    private static CommandResult Execute(ProcessStartInfo info, TimeSpan timeout)
    {
        using Process process = Process.Start(info)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill();
            process.WaitForExit();
        }

        return new CommandResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static void Check(CommandResult result)
    {
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException("setting up the namespace failed: " + result);
        }
    }
}

/// <summary>
/// A simulated LAN: a bridge in a namespace of its own and a namespace per host plugged into it, each with eth0 at
/// 198.18.<c>subnet</c>.<c>octet</c>/24. Disposing deletes them all.
/// </summary>
internal sealed class Lan : IDisposable
{
    private readonly NetworkNamespace[] _hosts;
    private readonly int _subnet;

    public Lan(int subnet, params int[] octets)
    {
        _subnet = subnet;
        Switch = new NetworkNamespace();
        Switch.AddBridge("br0");
        _hosts = new NetworkNamespace[octets.Length];
        Octets = octets;
        for (int i = 0; i < octets.Length; i++)
        {
            _hosts[i] = new NetworkNamespace();
            _hosts[i].PlugInto(Switch, "br0", Address(i));
        }
    }

    public NetworkNamespace Switch { get; }

    public IReadOnlyList<int> Octets { get; }

    public NetworkNamespace this[int host] => _hosts[host];

    public string Address(int host) => $"198.18.{_subnet}.{Octets[host]}";

    /// <summary>The subnet's broadcast address.</summary>
    public string Broadcast => $"198.18.{_subnet}.255";

    public void Dispose()
    {
        foreach (NetworkNamespace host in _hosts)
        {
            host?.Dispose();
        }

        Switch.Dispose();
    }
}
