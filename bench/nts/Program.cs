using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Meridian.Daemon;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host.Nts;
using Meridian.Host.Tests.Nts;
using Meridian.Protocol;

namespace Meridian.Bench.Nts;

/// <summary>
/// The NTS benchmark: our ntpd and chronyd as NTS servers, one after the other, in a network namespace of the
/// benchmark's own, each measured for (a) NTS-KE handshakes per second with N clients at once, (b) NTS-authenticated
/// NTP requests per second with K in flight (each with a fresh cookie and a new Unique Identifier; only replies that
/// authenticate count), and (c) the server's CPU time (utime + stime of its processes) per handshake and per request.
/// Prints one table, side by side, with the ratio ours/chronyd. Needs root (for the namespace); about a minute by default
/// (<c>--seconds</c> per phase, <c>--warmup</c> before each).
/// </summary>
/// <remarks>
/// The program runs twice: as started it makes the namespace and runs itself again inside it (through
/// <c>setpriv</c> without CAP_SYS_TIME, so nothing below can set the clock), then deletes the namespace. Our ntpd
/// runs with <c>disable ntp</c> and MERIDIAN_FORBID_CLOCK_WRITES=1, chronyd with <c>-x</c>. Every loop is bounded in
/// time and count.
/// </remarks>
public static class Program
{
    private const string ServerName = "ntp.test";

    // chronyd's ports, beside ours (123 and 4460) in the same namespace.
    private const int ChronyNtpPort = 11123;
    private const int ChronyKePort = 14460;

    public static int Main(string[] args)
    {
        string root = RepoRoot();
        Dictionary<string, string> o;
        try
        {
            o = Load.Options(args, new()
            {
                ["seconds"] = "10", ["warmup"] = "2", ["concurrency"] = "4", ["handshakes"] = "20000", ["inflight"] = "32", ["requests"] = "5000000",
                ["aead"] = NtsAeadId.AesSivCmac256.ToString(CultureInfo.InvariantCulture), ["ntsprocesses"] = "1",
                ["ntpd"] = Path.Combine(root, "out", "ntpd"), ["chronyd"] = Path.Combine(root, ".cache", "chrony", "usr", "sbin", "chronyd"),
                ["inside"] = "",
            });
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine("nts: " + e.Message);
            return 2;
        }

        return o["inside"].Length == 0 ? Outside(args, o) : Inside(o);
    }

    /// <summary>Makes the namespace, runs the benchmark in it, and deletes it and whatever the run left.</summary>
    private static int Outside(string[] args, Dictionary<string, string> o)
    {
        foreach (string program in new[] { o["ntpd"], o["chronyd"], "/usr/bin/setpriv", "/usr/sbin/ip" })
        {
            if (!File.Exists(program))
            {
                Console.Error.WriteLine($"nts: {program} is missing (./build.sh publishes out/ntpd)");
                return 2;
            }
        }

        if (!File.ReadLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0"))
        {
            Console.Error.WriteLine("nts: needs root, for the network namespace");
            return 2;
        }

        string ns = $"meridian-bench-{Environment.ProcessId}";
        string work = Directory.CreateTempSubdirectory("meridian-bench-nts-").FullName;
        try
        {
            Run("/usr/sbin/ip", "netns", "add", ns);
            Run("/usr/sbin/ip", "-n", ns, "link", "set", "lo", "up");
            string self = Environment.ProcessPath!;
            string[] program = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [self, typeof(Program).Assembly.Location] : [self];
            var info = new ProcessStartInfo("/usr/sbin/ip") { UseShellExecute = false };
            foreach (string a in (string[])["netns", "exec", ns, "/usr/bin/setpriv", "--bounding-set=-sys_time", "--inh-caps=-sys_time", "--", .. program, .. args, "--inside", work])
            {
                info.ArgumentList.Add(a);
            }

            info.Environment["MERIDIAN_FORBID_CLOCK_WRITES"] = "1";
            using Process inside = Process.Start(info)!;
            TimeSpan bound = TimeSpan.FromSeconds((2 * ((3 * (o.Double("seconds") + o.Double("warmup"))) + 60)) + 30);
            if (!inside.WaitForExit(bound))
            {
                Console.Error.WriteLine($"nts: the run took over {bound.TotalSeconds:0} s; stopped");
                inside.Kill();
                inside.WaitForExit();
            }

            return inside.ExitCode;
        }
        finally
        {
            StopLeftovers(work);
            Run("/usr/sbin/ip", "netns", "del", ns);
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The servers' PIDs, written as each starts, so that a run that was killed still leaves none behind.</summary>
    private static void StopLeftovers(string work)
    {
        string pids = Path.Combine(work, "pids");
        if (!File.Exists(pids))
        {
            return;
        }

        foreach (string line in File.ReadAllLines(pids))
        {
            string[] f = line.Split(' ', 2);
            int pid = int.Parse(f[0], CultureInfo.InvariantCulture);
            try
            {
                // Still the process we started (the PID not reused since): its start time in ticks matches.
                if (File.Exists($"/proc/{pid}/stat") && StartTicks(pid) == f[1])
                {
                    using Process process = Process.GetProcessById(pid);
                    process.Kill();
                    process.WaitForExit(5000);
                }
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
            {
            }
        }
    }

    private static string StartTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
    }

    private static int Inside(Dictionary<string, string> o)
    {
        string work = o["inside"];
        double seconds = o.Double("seconds");
        ushort aead = ushort.Parse(o["aead"], CultureInfo.InvariantCulture);
        if (!NtsAead.IsSupported(aead))
        {
            Console.Error.WriteLine($"nts: AEAD {aead} is not one we support ({string.Join(", ", NtsAead.Supported)})");
            return 2;
        }

        using var pki = new NtsKeCertificates();
        var options = new NtsKeClientOptions { CaFile = pki.CaFile, Timeout = TimeSpan.FromSeconds(5) };
        var settings = new Settings(seconds, o.Double("warmup"), o.Int("concurrency"), o.Int("handshakes"), Math.Clamp(o.Int("inflight"), 1, 4096), o.Int("requests"), aead, options);

        string ours = Path.Combine(work, "ntp.conf");
        File.WriteAllText(ours, $"""
            server 127.127.1.0
            fudge 127.127.1.0 stratum 10
            nts cert {pki.CertFile("ec")}
            nts key {pki.KeyFile("ec")}
            nts enable
            disable ntp
            """);
        string chrony = Path.Combine(work, "chrony.conf");
        File.WriteAllText(chrony, $"""
            local stratum 3
            allow
            port {ChronyNtpPort}
            ntsport {ChronyKePort}
            ntsserverkey {pki.KeyFile("ec")}
            ntsservercert {pki.CertFile("ec")}
            ntsprocesses {o.Int("ntsprocesses")}
            bindcmdaddress /
            cmdport 0
            pidfile {work}/chronyd.pid
            """);

        var results = new List<Result>();
        foreach ((string name, string[] command, int kePort, int ntpPort) in new[]
        {
            ("ours", new[] { o["ntpd"], "-n", "-c", ours, "-l", Path.Combine(work, "ntpd.log") }, NtsKeTls.DefaultPort, 123),
            ("chronyd", new[] { o["chronyd"], "-d", "-x", "-u", "root", "-f", chrony }, ChronyKePort, ChronyNtpPort),
        })
        {
            using var server = new Server(name, command, work);
            Result? result = Measure(server, kePort, ntpPort, settings);
            if (result is null)
            {
                Console.Error.WriteLine($"nts: {name} did not serve NTS within 30 s\n{server.Output}");
                return 1;
            }

            results.Add(result);
            Console.WriteLine(result.Summary(settings));
        }

        Console.WriteLine();
        Print(results[0], results[1], settings, o.Int("ntsprocesses"));
        return 0;
    }

    private sealed record Settings(double Seconds, double Warmup, int Concurrency, int HandshakeLimit, int InFlight, int RequestLimit, ushort Aead, NtsKeClientOptions Options);

    private sealed record Result(string Name, long Handshakes, long HandshakeFailures, double HandshakeSeconds, double HandshakeCpu,
        long Replies, long Sent, long Lost, long Bad, double RequestSeconds, double RequestCpu)
    {
        public double HandshakesPerSecond => Handshakes / HandshakeSeconds;

        public double RequestsPerSecond => Replies / RequestSeconds;

        /// <summary>Server CPU per handshake, in milliseconds.</summary>
        public double CpuPerHandshake => Handshakes == 0 ? double.NaN : HandshakeCpu * 1e3 / Handshakes;

        /// <summary>Server CPU per authenticated reply, in microseconds.</summary>
        public double CpuPerRequest => Replies == 0 ? double.NaN : RequestCpu * 1e6 / Replies;

        public string Summary(Settings s) => string.Create(CultureInfo.InvariantCulture,
            $"{Name}: {Handshakes} handshakes in {HandshakeSeconds:0.0} s ({HandshakeFailures} failed), server CPU {HandshakeCpu:0.00} s; "
            + $"{Replies} authenticated replies to {Sent} requests in {RequestSeconds:0.0} s ({Lost} unanswered, {Bad} not authentic), server CPU {RequestCpu:0.00} s");
    }

    private static void Print(Result ours, Result chrony, Settings s, int ntsProcesses)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"NTS benchmark, AEAD {s.Aead}, {s.Seconds:0.#} s per phase after {s.Warmup:0.#} s of warm-up, one network namespace (loopback), {Environment.ProcessorCount} CPUs shared by client and server"));
        var rows = new (string Label, double Ours, double Chrony, string Format)[]
        {
            ($"NTS-KE handshakes/s ({s.Concurrency} at once)", ours.HandshakesPerSecond, chrony.HandshakesPerSecond, "0.0"),
            ("server CPU per handshake (ms)", ours.CpuPerHandshake, chrony.CpuPerHandshake, "0.00"),
            ($"NTS requests/s ({s.InFlight} in flight)", ours.RequestsPerSecond, chrony.RequestsPerSecond, "0"),
            ("server CPU per request (us)", ours.CpuPerRequest, chrony.CpuPerRequest, "0.0"),
        };
        Console.WriteLine($"| {"",-36} | {"ours",10} | {"chronyd",10} | {"ours/chronyd",12} |");
        Console.WriteLine($"|{new string('-', 38)}|{new string('-', 11)}:|{new string('-', 11)}:|{new string('-', 13)}:|");
        foreach ((string label, double a, double b, string format) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {label,-36} | {a.ToString(format, CultureInfo.InvariantCulture),10} | {b.ToString(format, CultureInfo.InvariantCulture),10} | {(a / b).ToString("0.00", CultureInfo.InvariantCulture),12} |"));
        }

        Console.WriteLine($"chronyd: ntsprocesses {ntsProcesses} (NTS-KE in helper processes, their CPU counted), no ratelimit or ntsratelimit (both off unless configured); ours: no restrict limited");
    }

    /// <summary>Waits until the server completes an NTS-KE and answers an NTS request, then runs (a) and (b) on it.</summary>
    private static Result? Measure(Server server, int kePort, int ntpPort, Settings s)
    {
        var ready = Stopwatch.StartNew();
        NtsClientState? probe = null;
        while (probe is null && ready.Elapsed.TotalSeconds < 30 && !server.Exited)
        {
            try
            {
                probe = Exchange(kePort, s).State;
                if (Requests(server.Pid, [probe], ntpPort, 1, TimeSpan.FromSeconds(1), 1).Replies == 0)
                {
                    probe.Dispose();
                    probe = null;
                }
            }
            catch (Exception e) when (e is NtsKeClientException or IOException or InvalidDataException or SocketException)
            {
                Thread.Sleep(200);
            }
        }

        if (probe is null)
        {
            return null;
        }

        probe.Dispose();

        // Unmeasured warm-up of each phase: our server compiles its hot paths as it first runs them (tiered JIT).
        Handshakes(server.Pid, kePort, s with { Seconds = s.Warmup });
        (long handshakes, long failures, double handshakeSeconds, double handshakeCpu) = Handshakes(server.Pid, kePort, s);

        // K associations' worth of keys and cookies, made before the clock starts.
        var states = new NtsClientState[s.InFlight];
        Parallel.For(0, states.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, s.Concurrency) }, i => states[i] = ExchangeRetrying(kePort, s));
        Requests(server.Pid, states, ntpPort, s.InFlight, TimeSpan.FromSeconds(s.Warmup), s.RequestLimit);
        Counts counts = Requests(server.Pid, states, ntpPort, s.InFlight, TimeSpan.FromSeconds(s.Seconds), s.RequestLimit);
        foreach (NtsClientState state in states)
        {
            state.Dispose();
        }

        return new Result(server.Name, handshakes, failures, handshakeSeconds, handshakeCpu, counts.Replies, counts.Sent, counts.Lost, counts.Bad, counts.Seconds, counts.Cpu);
    }

    /// <summary>An exchange tried up to three times: the set-up of phase (b) should not fail on one dropped connection.</summary>
    private static NtsClientState ExchangeRetrying(int kePort, Settings s)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return Exchange(kePort, s).State;
            }
            catch (Exception e) when (attempt < 3 && e is NtsKeClientException or IOException or InvalidDataException or SocketException)
            {
            }
        }
    }

    private static NtsKeyExchangeResult Exchange(int kePort, Settings s) =>
        NtsKeyExchange.Run(ServerName, IPAddress.Loopback, s.Options, [s.Aead], kePort);

    /// <summary>(a): N clients each running NTS-KE exchanges back to back, for the phase's time or the count limit.</summary>
    private static (long Ok, long Failed, double Seconds, double Cpu) Handshakes(int pid, int kePort, Settings s)
    {
        long started = 0, ok = 0, failed = 0;
        double cpu = Load.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();
        var threads = new Thread[Math.Max(1, s.Concurrency)];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() =>
            {
                while (clock.Elapsed.TotalSeconds < s.Seconds && Interlocked.Increment(ref started) <= s.HandshakeLimit)
                {
                    try
                    {
                        Exchange(kePort, s).State.Dispose();
                        Interlocked.Increment(ref ok);
                    }
                    catch (Exception e) when (e is NtsKeClientException or IOException or InvalidDataException or SocketException)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }
            }) { IsBackground = true };
            threads[t].Start();
        }

        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        double elapsed = clock.Elapsed.TotalSeconds;
        return (ok, failed, elapsed, Load.CpuSeconds(pid) - cpu);
    }

    private sealed record Counts(long Sent, long Replies, long Lost, long Bad, double Seconds, double Cpu);

    /// <summary>
    /// (b): a closed loop over <paramref name="states"/>, one request in flight for each: a reply that authenticates
    /// sends the slot's next request at once; a request unanswered for 0.5 s is counted lost and replaced. Each
    /// request carries the slot's oldest cookie and a new Unique Identifier (the client state's rules), and the
    /// transmit timestamp names the slot, which the reply's origin echoes. Stops after <paramref name="duration"/> or
    /// <paramref name="limit"/> replies.
    /// </summary>
    private static Counts Requests(int pid, NtsClientState[] states, int ntpPort, int inFlight, TimeSpan duration, long limit)
    {
        var server = new IPEndPoint(IPAddress.Loopback, ntpPort);
        using Socket socket = Load.Bind(IPAddress.Loopback);
        socket.Connect(server);
        var request = new byte[NtsClientState.MaxRequestLength];
        var reply = new byte[2048];
        var sentAt = new long[states.Length];
        var sequence = new ushort[states.Length];
        long sent = 0, replies = 0, lost = 0, bad = 0;
        double cpu = Load.CpuSeconds(pid);
        var clock = Stopwatch.StartNew();

        bool Send(int slot)
        {
            NtsClientState state = states[slot];
            if (state.NeedsKeyExchange)
            {
                return false;
            }

            Load.Request(request, ((ulong)sequence[slot]++ << 16) | (uint)slot);
            int length = state.WriteRequestFields(request, NtpHeader.Size, CryptoRandomSource.Instance);
            socket.Send(request.AsSpan(0, length));
            sentAt[slot] = clock.ElapsedTicks;
            sent++;
            return true;
        }

        for (int slot = 0; slot < Math.Min(inFlight, states.Length); slot++)
        {
            Send(slot);
        }

        long lastSweep = 0, timeout = Stopwatch.Frequency / 2;
        while (clock.Elapsed < duration && replies < limit)
        {
            if (socket.Poll(20_000, SelectMode.SelectRead))
            {
                int length;
                try
                {
                    length = socket.Receive(reply);
                }
                catch (SocketException)
                {
                    continue;
                }

                int slot = NtpHeader.TryRead(reply.AsSpan(0, length), out NtpHeader header) ? (int)(Load.Serial(header) & 0xFFFF) : -1;
                if (slot < 0 || slot >= states.Length || states[slot].CheckReply(reply.AsSpan(0, length)) != NtsReplyCheck.Ok)
                {
                    bad++;
                    continue;
                }

                replies++;
                Send(slot);
            }

            long now = clock.ElapsedTicks;
            if (now - lastSweep > timeout / 5)
            {
                lastSweep = now;
                for (int slot = 0; slot < states.Length; slot++)
                {
                    if (states[slot].HasOutstandingRequest && now - sentAt[slot] > timeout)
                    {
                        lost++;
                        Send(slot);
                    }
                }
            }
        }

        double elapsed = clock.Elapsed.TotalSeconds;
        return new Counts(sent, replies, lost, bad, elapsed, Load.CpuSeconds(pid) - cpu);
    }

    /// <summary>A server under test, started through setpriv without CAP_SYS_TIME and stopped by its PID.</summary>
    private sealed class Server : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        public Server(string name, string[] command, string work)
        {
            Name = name;
            var info = new ProcessStartInfo("/usr/bin/setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in (string[])["--bounding-set=-sys_time", "--inh-caps=-sys_time", "--", .. command])
            {
                info.ArgumentList.Add(a);
            }

            info.Environment["MERIDIAN_FORBID_CLOCK_WRITES"] = "1";
            _process = Process.Start(info)!;
            _process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
            _process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();

            // setpriv execs the server, so this PID is the server's own.
            File.AppendAllText(Path.Combine(work, "pids"), $"{_process.Id} {StartTicks(_process.Id)}\n");
        }

        public string Name { get; }

        public int Pid => _process.Id;

        public bool Exited => _process.HasExited;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }

            _process.Dispose();
        }
    }

    private static void Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using Process process = Process.Start(info)!;
        string error = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(20_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {error}");
        }
    }

    private static string RepoRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Meridian.sln")))
            {
                return dir;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
