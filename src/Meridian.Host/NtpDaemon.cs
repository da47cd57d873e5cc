using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>Command-line settings of the daemon that are not in ntp.conf.</summary>
public sealed record DaemonOptions
{
    /// <summary>What mode 6 reports as the daemon's version.</summary>
    public string Version { get; init; } = "ntpd Meridian";

    /// <summary>UDP port to serve; 123 unless a test asks for another (0 picks a free one).</summary>
    public int Port { get; init; } = 123;

    public bool UseIPv4 { get; init; } = true;

    public bool UseIPv6 { get; init; } = true;

    /// <summary>Addresses from <c>-I</c>, added to <c>interface listen</c>.</summary>
    public IReadOnlyList<IPAddress> ListenAddresses { get; init; } = [];

    /// <summary>-I with interface names.</summary>
    public IReadOnlyList<string> ListenInterfaces { get; init; } = [];

    /// <summary><c>-g</c>: the first correction may exceed the panic threshold.</summary>
    public bool AllowFirstPanic { get; init; }

    /// <summary><c>-x</c>: step threshold 600 s.</summary>
    public bool SlewMostly { get; init; }

    /// <summary><c>-q</c>: set the clock once and exit.</summary>
    public bool SetOnceAndExit { get; init; }

    /// <summary><c>-f</c>: drift file, overriding <c>driftfile</c>.</summary>
    public string? DriftFile { get; init; }

    public DisciplineKind Discipline { get; init; } = DisciplineKind.Adaptive;

    /// <summary>The clock system calls (a recording fake in tests).</summary>
    public Native.IKernelClockCalls KernelClock { get; init; } = Native.KernelClockCalls.Instance;
}

/// <summary>
/// ntpd's process: sockets on every address (or the configured ones) with a receive thread each, and one engine
/// thread that owns the <see cref="NtpEngine"/>. Client requests are answered on the receive threads through the
/// engine's thread-safe responder; everything else is queued to the engine thread, which also ticks the engine
/// once a second, resolves names in the background and keeps the drift file.
/// </summary>
public sealed class NtpDaemon : IDisposable, INtpTransport
{
    private const double DriftInterval = 3600;

    private readonly NtpConfiguration _config;

    /// <summary>What <c>:config</c> may change after start: restrict lines, system flags, keys and trusted keys.</summary>
    private readonly List<RestrictEntry> _restrictions;
    private readonly Dictionary<string, bool> _systemFlags;
    private readonly HashSet<int> _trustedKeys;
    private KeyRing _keys;
    private readonly DaemonOptions _options;
    private readonly Log _log;
    private readonly IClock _clock;
    private readonly List<NtpSocket> _sockets = new();
    private readonly List<Thread> _threads = new();
    private readonly ConcurrentQueue<Action> _inbox = new();

    /// <summary>Packets that may wait for the engine thread; more are dropped (and counted), so a flood cannot grow memory.</summary>
    public const int MaxPendingPackets = 4096;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Stopwatch _monotonic = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly IClockControl _control;
    private readonly string? _driftFile;
    private double _lastDriftWrite;

    public NtpDaemon(NtpConfiguration config, DaemonOptions options, Log log, IClock clock, sbyte precision)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        precision = (sbyte)(config.Precision ?? precision);
        Precision = precision;
        _driftFile = options.DriftFile ?? config.DriftFile;
        _restrictions = [.. config.Restrictions];
        _systemFlags = new Dictionary<string, bool>(config.SystemFlags, StringComparer.Ordinal);
        _trustedKeys = [.. config.TrustedKeys];
        _keys = config.Keys;
        // -q makes one correction itself, below, instead of leaving a slew running behind it.
        _control = config.ClockControl && !options.SetOnceAndExit ? new LinuxClockControl(options.KernelClock) : NoClockControl.Instance;
        double? drift = ReadDrift();
        var limits = new DisciplineSettings
        {
            AllowFirstPanic = options.AllowFirstPanic,
            // -x raises the step threshold to 600 s unless tinker sets it.
            StepThreshold = config.Tinker.GetValueOrDefault("step", options.SlewMostly ? 600 : 0.128),
            Stepout = config.Tinker.GetValueOrDefault("stepout", 300),
            PanicThreshold = config.Tinker.GetValueOrDefault("panic", 1000),
            SlewAlways = config.SlewAlways,
            InitialFrequency = drift,
        };
        var selection = new SelectionSettings
        {
            MinClock = (int)config.Tos.GetValueOrDefault("minclock", 3),
            MaxClock = (int)config.Tos.GetValueOrDefault("maxclock", 10),
            MinSane = (int)config.Tos.GetValueOrDefault("minsane", 1),
            Orphan = (int)config.Tos.GetValueOrDefault("orphan", 16),
            OrphanWait = config.Tos.GetValueOrDefault("orphanwait", 300),
        };
        Engine = new NtpEngine(
            new EngineSettings
            {
                Discipline = options.Discipline, Limits = limits, Selection = selection, Precision = precision, Host = DescribeHost(options.Version),
                ControlKey = ControlKeyOf(config, config.Keys, config.TrustedKeys, log), Configure = text => ConfigureRemotely(text),
                Access = AccessListOf(config.Restrictions, log), Discard = DiscardOf(config), QueueCapacity = MaxPendingPackets, StoredKeys = config.Keys.Count, BroadcastDelay = config.BroadcastDelay,
                UserVariables = config.SetVar.Select(v => new UserVariable(v.Key, v.Value, config.SetVarDefault.Contains(v.Key))).ToList(),
                ReadKernel = () => KernelLoopOf(options.KernelClock), SystemFlags = () => SystemFlagsText,
                TrustedKeys = TrustedKeysOf(config.Keys, config.TrustedKeys), RequirePeerAuthentication = config.SystemFlags["auth"],
            },
            clock,
            _control,
            this,
            new Random());
        // Rate limiting needs the MRU list: limited keeps monitoring on, as in ntpd.
        Engine.Monitor = config.SystemFlags["monitor"] || config.Restrictions.Any(r => r.Flags.HasFlag(RestrictFlags.Limited) && !r.Remove);
    }

    /// <summary>The kernel's discipline state, read with <c>ntp_adjtime</c> in read-only mode; null when the call fails.</summary>
    private static KernelLoop? KernelLoopOf(Native.IKernelClockCalls calls)
    {
        var timex = new Native.Timex();
        if (calls.ClockAdjTime(ref timex) < 0)
        {
            return null;
        }

        double fine = (timex.Status & Native.Timex.StaNano) != 0 ? 1e-9 : 1e-6;
        return new KernelLoop(
            Offset: timex.Offset * fine,
            FrequencyPpm: timex.Freq / 65536.0,
            MaxError: timex.MaxError * 1e-6,
            EstimatedError: timex.EstError * 1e-6,
            Status: timex.Status,
            TimeConstant: timex.Constant,
            Precision: timex.Precision * 1e-6,
            TolerancePpm: timex.Tolerance / 65536.0,
            PpsFrequencyPpm: timex.PpsFreq / 65536.0,
            PpsStability: timex.Stabil / 65536.0,
            PpsJitter: timex.Jitter * fine,
            PpsShift: timex.Shift,
            PpsCalibrations: timex.CalCnt,
            PpsJitterExceeded: timex.JitCnt,
            PpsStabilityExceeded: timex.StbCnt,
            PpsCalibrationErrors: timex.ErrCnt);
    }

    public sbyte Precision { get; }

    /// <summary>
    /// The restrict lines as the engine's access list, in order: <c>default</c> without -4/-6 covers both families; a
    /// second line for the same address and mask adds its flags (as ntpd); <c>unrestrict</c> takes flags away from
    /// the entry it names (for <c>default</c>, from the built-in noquery); a host name stands for each of its
    /// addresses (resolved now, as ntpd 4.2.8 does); <c>source</c> gives its flags to the associations' addresses.
    /// </summary>
    private static RestrictList AccessListOf(IEnumerable<RestrictEntry> restrictions, Log? log = null)
    {
        var entries = new Dictionary<(IPAddress, IPAddress, bool), AccessFlags>();
        AccessFlags? source = null;
        foreach (RestrictEntry r in restrictions)
        {
            AccessFlags flags = Map(r.Flags);
            if (r.Target == RestrictTarget.Source)
            {
                source = r.Remove ? (source ?? AccessFlags.None) & ~flags : (source ?? AccessFlags.None) | flags;
                continue;
            }

            var targets = new List<(IPAddress Address, IPAddress Mask)>();
            if (r.Target == RestrictTarget.Default)
            {
                if (r.Family is null or AddressFamily.InterNetwork)
                {
                    targets.Add((IPAddress.Any, IPAddress.Any));
                }

                if (r.Family is null or AddressFamily.InterNetworkV6)
                {
                    targets.Add((IPAddress.IPv6Any, IPAddress.IPv6Any));
                }
            }
            else if (r.Target == RestrictTarget.Address && r.Address is not null && r.Mask is not null)
            {
                targets.Add((r.Address, r.Mask));
            }
            else if (r.Target == RestrictTarget.HostName && r.HostName is not null)
            {
                try
                {
                    foreach (IPAddress address in System.Net.Dns.GetHostAddresses(r.HostName))
                    {
                        targets.Add((address, address.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Broadcast : new IPAddress(Enumerable.Repeat((byte)0xFF, 16).ToArray())));
                    }
                }
                catch (SocketException e)
                {
                    log?.Warning($"restrict {r.HostName} (line {r.Line}): cannot resolve the name ({e.Message}); the line is left out");
                }
            }

            bool ntpPort = r.Flags.HasFlag(RestrictFlags.NtpPort);
            foreach ((IPAddress address, IPAddress mask) in targets)
            {
                var key = (address, mask, ntpPort);
                if (r.Remove)
                {
                    AccessFlags current = entries.TryGetValue(key, out AccessFlags existing) ? existing
                        : r.Target == RestrictTarget.Default ? AccessFlags.NoQuery : AccessFlags.None;
                    entries[key] = current & ~flags;
                }
                else
                {
                    entries[key] = entries.TryGetValue(key, out AccessFlags earlier) ? earlier | flags : flags;
                }
            }
        }

        return new RestrictList(entries.Select(e => new AccessEntry(e.Key.Item1, e.Key.Item2, e.Value, e.Key.Item3)), source);

        static AccessFlags Map(RestrictFlags f) =>
            (f.HasFlag(RestrictFlags.Ignore) ? AccessFlags.Ignore : 0) | (f.HasFlag(RestrictFlags.NoQuery) ? AccessFlags.NoQuery : 0)
            | (f.HasFlag(RestrictFlags.NoServe) ? AccessFlags.NoServe : 0) | (f.HasFlag(RestrictFlags.NoPeer) ? AccessFlags.NoPeer : 0)
            | (f.HasFlag(RestrictFlags.NoModify) ? AccessFlags.NoModify : 0) | (f.HasFlag(RestrictFlags.Kod) ? AccessFlags.Kod : 0)
            | (f.HasFlag(RestrictFlags.Limited) ? AccessFlags.Limited : 0) | (f.HasFlag(RestrictFlags.NoTrust) ? AccessFlags.NoTrust : 0)
            | (f.HasFlag(RestrictFlags.Version) ? AccessFlags.Version : 0) | (f.HasFlag(RestrictFlags.NoTrap) ? AccessFlags.NoTrap : 0)
            | (f.HasFlag(RestrictFlags.LowPriorityTrap) ? AccessFlags.LowPriorityTrap : 0);
    }

    /// <summary><c>discard</c> and <c>mru</c> as the engine's rate limits and MRU bounds (<c>maxmem</c> in KiB bounds the depth too).</summary>
    private static DiscardSettings DiscardOf(NtpConfiguration config)
    {
        var defaults = new DiscardSettings();
        int depth = (int)config.Mru.GetValueOrDefault("maxdepth", defaults.MaxDepth);
        if (config.Mru.TryGetValue("maxmem", out double kib))
        {
            depth = Math.Min(depth, (int)Math.Max(1, kib * 1024 / MruList.EntrySize));
        }

        return new DiscardSettings
        {
            Average = (int)config.Discard.GetValueOrDefault("average", defaults.Average),
            Minimum = config.Discard.GetValueOrDefault("minimum", defaults.Minimum),
            MaxDepth = depth,
            MinDepth = (int)config.Mru.GetValueOrDefault("mindepth", defaults.MinDepth),
            MaxAge = config.Mru.GetValueOrDefault("maxage", defaults.MaxAge),
        };
    }

    /// <summary>The keys of the keys file that <c>trustedkey</c> names (a trusted ID without a key is ignored, as in ntpd).</summary>
    private static List<AuthKey> TrustedKeysOf(KeyRing keys, HashSet<int> trusted) =>
        trusted.Where(id => id > 0).Select(id => keys[id]).OfType<SymmetricKey>().Select(k => new AuthKey((uint)k.Id, k.Type, k.Secret.ToArray())).ToList();

    /// <summary>The <c>controlkey</c>, if it names a key of the keys file that is also trusted (as ntpd requires).</summary>
    private static AuthKey? ControlKeyOf(NtpConfiguration config, KeyRing keys, HashSet<int> trusted, Log log)
    {
        if (config.ControlKey is not int id)
        {
            return null;
        }

        if (keys[id] is not SymmetricKey key)
        {
            log.Warning($"controlkey {id} is not in the keys file: remote configuration stays off");
            return null;
        }

        if (!trusted.Contains(id))
        {
            log.Warning($"controlkey {id} is not a trustedkey: remote configuration stays off");
            return null;
        }

        return new AuthKey((uint)id, key.Type, key.Secret.ToArray());
    }

    /// <summary>version, processor and system as ntpd reports them (system is uname's sysname/release).</summary>
    private static HostDescription DescribeHost(string version)
    {
        string processor = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 => "x86_64",
            System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
            System.Runtime.InteropServices.Architecture.X86 => "i686",
            var other => other.ToString().ToLowerInvariant(),
        };
        string release;
        try
        {
            release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (IOException)
        {
            release = Environment.OSVersion.Version.ToString();
        }

        return new HostDescription(version, processor, "Linux/" + release);
    }

    /// <summary>The engine; touch it only from the engine thread, or before <see cref="Start"/>.</summary>
    public NtpEngine Engine { get; }

    public ServerResponder Responder => Engine.Responder;

    public IReadOnlyList<IPEndPoint> LocalEndPoints => _sockets.ConvertAll(s => s.LocalEndPoint);

    /// <summary>Signalled when the daemon must exit by itself: a panic, or -q done. <see cref="ExitCode"/> says how.</summary>
    public ManualResetEventSlim Finished { get; } = new();

    public int ExitCode { get; private set; }

    /// <summary>Opens the sockets and starts serving. Throws <see cref="NtpSocketException"/> when no socket can be opened.</summary>
    public void Start()
    {
        ReportConfiguration();
        OpenSockets();
        AddAssociations();
        foreach (NtpSocket socket in _sockets)
        {
            var thread = new Thread(() => ServeLoop(socket)) { IsBackground = true, Name = $"ntp-rx {socket.LocalEndPoint}" };
            _threads.Add(thread);
            thread.Start();
        }

        var engineThread = new Thread(EngineLoop) { IsBackground = true, Name = "ntp-engine" };
        _threads.Add(engineThread);
        engineThread.Start();
    }

    public void Stop()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        _wake.Set();
        foreach (NtpSocket socket in _sockets)
        {
            socket.Dispose();
        }

        foreach (Thread thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(2));
        }

        WriteDrift();
    }

    public void Dispose()
    {
        Stop();
        _wake.Dispose();
        _stop.Dispose();
        Finished.Dispose();
    }

    /// <summary>Sends for the engine (called on the engine thread).</summary>
    public void Send(IPEndPoint destination, ReadOnlySpan<byte> packet, bool clientRequest)
    {
        if (clientRequest)
        {
            SendFromFreshPort(destination, packet.ToArray());
            return;
        }

        NtpSocket? socket = _sockets.Find(s => s.Family == destination.AddressFamily);
        try
        {
            socket?.SendTo(packet, destination);
            Engine.Io.CountSent();
        }
        catch (NtpSocketException e)
        {
            Engine.Io.CountSendFailed();
            _log.Debug($"send to {destination}: {e.Message}");
        }
    }

    private double Now => _monotonic.Elapsed.TotalSeconds;

    /// <summary>A client request leaves from a new random port and its socket lives until the answer or 8 s (RFC 9109).</summary>
    private void SendFromFreshPort(IPEndPoint destination, byte[] packet)
    {
        NtpSocket socket;
        try
        {
            socket = NtpSocket.Bind(new IPEndPoint(destination.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
            socket.SendTo(packet, destination);
            Engine.Io.CountSent();
        }
        catch (NtpSocketException e)
        {
            Engine.Io.CountSendFailed();
            _log.Debug($"request to {destination}: {e.Message}");
            return;
        }

        _ = Task.Run(() =>
        {
            using (socket)
            using (var datagram = new Datagram())
            {
                DateTime deadline = DateTime.UtcNow.AddSeconds(8);
                while (!_stop.IsCancellationRequested && DateTime.UtcNow < deadline)
                {
                    if (socket.Receive(datagram, 250) != ReceiveResult.Received)
                    {
                        continue;
                    }

                    NtpTimestamp arrival = datagram.KernelReceiveTime ?? _clock.Now();
                    IPEndPoint from = datagram.RemoteEndPoint;
                    if (!from.Address.Equals(destination.Address))
                    {
                        continue;
                    }

                    byte[] copy = datagram.Payload.ToArray();
                    double now = Now;
                    IPAddress? local = datagram.LocalAddress;
                    _inbox.Enqueue(() => Engine.Receive(copy, from, arrival, now, local));
                    _wake.Set();
                    return;
                }
            }
        });
    }

    private void EngineLoop()
    {
        double nextTick = Now;
        while (!_stop.IsCancellationRequested)
        {
            double wait = nextTick - Now;
            if (wait > 0)
            {
                _wake.WaitOne(TimeSpan.FromSeconds(wait));
            }

            while (_inbox.TryDequeue(out Action? action))
            {
                Guarded(action);
            }

            if (Now >= nextTick)
            {
                Guarded(() => Engine.Tick(Now));
                nextTick += 1;
                if (nextTick < Now)
                {
                    nextTick = Now + 1;
                }
            }

            DrainEvents();
            if (Now - _lastDriftWrite >= DriftInterval)
            {
                WriteDrift();
            }
        }
    }

    /// <summary>A fault in handling one packet or tick is logged and survived: the daemon keeps serving time.</summary>
    private void Guarded(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error($"internal error, continuing: {e.GetType().Name}: {e.Message}");
        }
    }

    private void DrainEvents()
    {
        while (Engine.Events.TryDequeue(out EngineEvent? e))
        {
            _log.Notice(e.Message);
        }

        while (Engine.ResolveRequests.TryDequeue(out Pool? pool))
        {
            _ = ResolvePoolAsync(pool);
        }

        if (Engine.Panicked)
        {
            ExitCode = 1;
            Finished.Set();
            return;
        }

        if (Engine.State.IsSynchronized && _control is LinuxClockControl linux && !linux.IsMarkedSynchronized)
        {
            linux.MarkSynchronized(Engine.State.RootDelay / 2 + Engine.State.RootDispersion, Engine.SystemJitter);
        }

        if (_options.SetOnceAndExit && Engine.State.IsSynchronized && Engine.SystemPeer is { IsRefclock: false } && !Finished.IsSet)
        {
            SetOnce(Engine.SystemOffset);
        }
    }

    /// <summary>-q: one correction, like ntpdate: a step above the step threshold, else adjtime; then exit.</summary>
    private void SetOnce(double offset)
    {
        bool step = Math.Abs(offset) > (_options.SlewMostly ? 600 : 0.128);
        string text = offset.ToString("+0.000000;-0.000000", CultureInfo.InvariantCulture);
        try
        {
            if (_config.ClockControl)
            {
                if (step)
                {
                    ClockWriter.Step(offset);
                }
                else
                {
                    ClockWriter.Slew(offset);
                }
            }

            _log.Notice($"ntpd: time {(step ? "set" : "slew")} {text}s");
            ExitCode = 0;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            _log.Error($"ntpd: cannot {(step ? "set" : "slew")} the clock by {text}s: {e.Message}");
            ExitCode = 1;
        }

        Finished.Set();
    }

    private void AddAssociations() => AddAssociations(_config);

    /// <summary>Directives <c>:config</c> (and ntpdc) can change while the daemon runs.</summary>
    private static readonly HashSet<string> RuntimeDirectives = new(StringComparer.Ordinal)
    {
        "server", "pool", "peer", "fudge", "unpeer", "restrict", "unrestrict", "enable", "disable", "trustedkey", "setvar", "readkeys",
    };

    /// <summary>System flags a run-time <c>enable</c>/<c>disable</c> can change.</summary>
    private static readonly HashSet<string> RuntimeFlags = new(StringComparer.Ordinal) { "monitor", "auth" };

    /// <summary>
    /// ntpq's <c>:config</c> and ntpdc's changes, authenticated with the control key: the text is read as ntp.conf
    /// lines. Associations are added or removed, restrict lines change the access list (flags add to an entry, as in
    /// ntpd), <c>enable</c>/<c>disable monitor|auth</c>, <c>trustedkey</c> and <c>setvar</c> take effect, and the line
    /// <c>readkeys</c> reads the keys file again. Anything that only takes effect at start is named in the answer and
    /// left alone. Runs on the engine thread.
    /// </summary>
    private string ConfigureRemotely(string text)
    {
        var lines = text.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()).ToList();
        bool readKeys = lines.RemoveAll(l => l == "readkeys") > 0;
        NtpConfiguration remote = ConfigParser.Parse(string.Join('\n', lines), "remote configuration");
        if (remote.HasErrors)
        {
            return string.Join("\r\n", remote.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Message));
        }

        List<string> startOnly = lines.Select(l => l.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault())
            .Where(w => w is not null && !w.StartsWith('#') && !RuntimeDirectives.Contains(w)).Select(w => w!).Distinct().ToList();
        startOnly.AddRange(remote.SystemFlagsWritten.Where(f => !RuntimeFlags.Contains(f) && remote.SystemFlags[f] != _config.SystemFlags[f]).Select(f => $"{(remote.SystemFlags[f] ? "enable" : "disable")} {f}"));

        AddAssociations(remote);
        foreach (string gone in remote.Unpeer)
        {
            foreach (Association a in Engine.Associations.Where(a => a.Address.Address.ToString() == gone || a.Id.ToString(CultureInfo.InvariantCulture) == gone).ToList())
            {
                Engine.Remove(a);
            }
        }

        if (remote.Restrictions.Count > 0)
        {
            _restrictions.AddRange(remote.Restrictions);
            Engine.Access = AccessListOf(_restrictions, _log);
        }

        foreach (string flag in remote.SystemFlagsWritten.Where(RuntimeFlags.Contains))
        {
            _systemFlags[flag] = remote.SystemFlags[flag];
        }

        Engine.Monitor = _systemFlags["monitor"] || _restrictions.Any(r => r.Flags.HasFlag(RestrictFlags.Limited) && !r.Remove);
        foreach ((string name, string value) in remote.SetVar)
        {
            Engine.Control.SetUserVariable(new UserVariable(name, value, remote.SetVarDefault.Contains(name)));
        }

        _trustedKeys.UnionWith(remote.TrustedKeys);
        if (readKeys && _config.KeysFile is string keysFile)
        {
            var problems = new List<ConfigDiagnostic>();
            try
            {
                _keys = KeyRing.Parse(File.ReadAllText(keysFile), keysFile, problems);
                Engine.Auth.StoredKeys = _keys.Count;
                _log.Notice($"keys file {keysFile} read again: {_keys.Count} keys");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"readkeys: cannot read {keysFile}: {e.Message}";
            }
        }

        if (readKeys || remote.TrustedKeys.Count > 0)
        {
            Engine.Control.Key = ControlKeyOf(_config, _keys, _trustedKeys, _log);
            Engine.Keys.Replace(TrustedKeysOf(_keys, _trustedKeys));
        }

        _log.Notice($"remote configuration: {string.Join("; ", lines.Where(l => l.Length > 0))}");
        DrainEvents();
        return startOnly.Count == 0 ? "Config Succeeded" : $"Config Succeeded; these take effect only at start and were not changed: {string.Join(", ", startOnly)}";
    }

    /// <summary>The system flags now in effect, as ntpdc's <c>sysinfo</c> lists them.</summary>
    public string SystemFlagsText => string.Join(' ', _systemFlags.Where(f => f.Value).Select(f => f.Key));

    private void AddAssociations(NtpConfiguration config)
    {
        foreach (AssociationConfig association in config.Associations)
        {
            if (config.Unpeer.Contains(association.Address))
            {
                _log.Info($"{association.Address}: removed by unpeer");
                continue;
            }

            _log.Info($"configured {Describe(association)}");

            if (association.Refclock is { } clock)
            {
                if (clock.Type != LocalClockDriver.Type)
                {
                    _log.Warning($"reference clock {clock}: driver type {clock.Type} is not available in this build yet; ignored");
                    continue;
                }

                FudgeConfig? fudge = config.Fudges.GetValueOrDefault(clock) ?? _config.Fudges.GetValueOrDefault(clock);
                Engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse(clock.ToString()), 123))
                {
                    Mode = AssociationMode.Refclock,
                    RefclockType = clock.Type,
                    RefclockStratum = fudge?.Stratum ?? LocalClockDriver.DefaultStratum,
                    RefclockId = fudge?.RefId is { } refid ? ReferenceId.FromAscii(refid) : LocalClockDriver.DefaultReferenceId,
                    RefclockTime1 = fudge?.Time1,
                    RefclockTime2 = fudge?.Time2,
                    RefclockFlags = fudge is null ? 0 : fudge.Flags.Where(f => f.Value).Sum(f => 1 << (f.Key - 1)),
                    NoSelect = association.NoSelect,
                    Prefer = association.Prefer,
                    Name = $"LOCAL({clock.Unit})",
                });
                continue;
            }

            if (association.Kind == AssociationKind.Pool)
            {
                Engine.AddPool(association.Address, Settings(association, IPAddress.Any));
                continue;
            }

            if (IPAddress.TryParse(association.Address, out IPAddress? literal))
            {
                Engine.Add(Settings(association, literal));
                continue;
            }

            _ = ResolveAsync(association);
        }
    }

    /// <summary>An association as the configuration line would say it, for the start-up log.</summary>
    private static string Describe(AssociationConfig a)
    {
        var words = new List<string> { a.Kind.ToString().ToLowerInvariant(), a.Address };
        words.AddRange(new[] { (a.Iburst, "iburst"), (a.Burst, "burst"), (a.Prefer, "prefer"), (a.NoSelect, "noselect"), (a.True, "true") }.Where(f => f.Item1).Select(f => f.Item2));
        words.Add($"minpoll {a.MinPoll} maxpoll {a.MaxPoll} version {a.Version}");
        return string.Join(' ', words);
    }

    private AssociationSettings Settings(AssociationConfig association, IPAddress address) =>
        new(new IPEndPoint(address, 123))
        {
            Mode = association.Kind == AssociationKind.Peer ? AssociationMode.SymmetricActive : AssociationMode.Client,
            MinPoll = association.MinPoll,
            MaxPoll = association.MaxPoll,
            Iburst = association.Iburst,
            Burst = association.Burst,
            Prefer = association.Prefer,
            NoSelect = association.NoSelect,
            True = association.True,
            Version = (byte)association.Version,
            Name = association.Address,
            Key = association.Key,
        };

    /// <summary>Answers the engine's request for a pool's addresses (the engine paces the requests and retries).</summary>
    private async Task ResolvePoolAsync(Pool pool)
    {
        IPAddress[] addresses = [];
        try
        {
            addresses = IPAddress.TryParse(pool.Name, out IPAddress? literal) ? [literal]
                : await Dns.GetHostAddressesAsync(pool.Name, _stop.Token).ConfigureAwait(false);
            addresses = addresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork ? _options.UseIPv4 : _options.UseIPv6).ToArray();
        }
        catch (SocketException e)
        {
            _log.Warning($"pool {pool.Name}: cannot resolve ({e.Message}); the engine asks again later");
        }
        catch (OperationCanceledException)
        {
            return;
        }

        double now = Now;
        _inbox.Enqueue(() => Engine.PoolResolved(pool, addresses, now));
        _wake.Set();
    }

    /// <summary>Resolves a host name without holding up anything else, retrying with back-off while it fails.</summary>
    private async Task ResolveAsync(AssociationConfig association)
    {
        double delay = 2;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                IPAddress[] addresses = await Dns.GetHostAddressesAsync(association.Address, _stop.Token).ConfigureAwait(false);
                addresses = addresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork ? _options.UseIPv4 : _options.UseIPv6).ToArray();
                if (addresses.Length > 0)
                {
                    AssociationSettings settings = Settings(association, addresses[0]);
                    _inbox.Enqueue(() => Engine.Add(settings));
                    _log.Info($"{association.Kind.ToString().ToLowerInvariant()} {association.Address}: resolved to {addresses[0]}");
                    _wake.Set();
                    return;
                }
            }
            catch (SocketException e)
            {
                _log.Warning($"{association.Address}: cannot resolve ({e.Message}); retrying in {delay:0} s");
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(delay), _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = Math.Min(delay * 2, 3600);
        }
    }

    private void ReportConfiguration()
    {
        _log.Info($"proto: precision = {Math.Pow(2, Precision) * 1e6:0.000} usec ({Precision})");
        _log.Notice(!_config.ClockControl
            ? "disable ntp: the system clock is never adjusted"
            : $"clock discipline: {Engine.Discipline.Name}");
        foreach (string directive in _config.NotYetInEffect)
        {
            _log.Notice($"'{directive}' is read and checked, but its feature is not available in this build yet");
        }

        if (_config.Keys.Count > 0)
        {
            _log.Notice($"{_config.Keys.Count} symmetric keys read, {Engine.Keys.Trusted.Count} trusted");
        }
    }

    private double? ReadDrift()
    {
        if (_driftFile is null || !File.Exists(_driftFile))
        {
            return null;
        }

        string text = File.ReadAllText(_driftFile).Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double ppm) && Math.Abs(ppm) <= 500)
        {
            _log.Info($"initial drift restored to {ppm:0.000000} PPM from {_driftFile}");
            return ppm * 1e-6;
        }

        _log.Warning($"{_driftFile}: '{text}' is not a frequency in PPM; ignored");
        return null;
    }

    /// <summary>Writes the frequency in PPM: write, fsync, rename, so a crash never leaves a torn file.</summary>
    private void WriteDrift()
    {
        _lastDriftWrite = Now;
        if (_driftFile is null || !_control.CanAdjust || !Engine.State.IsSynchronized)
        {
            return;
        }

        try
        {
            string temporary = _driftFile + ".TEMP";
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                byte[] bytes = System.Text.Encoding.ASCII.GetBytes((Engine.Discipline.Frequency * 1e6).ToString("0.000000", CultureInfo.InvariantCulture) + "\n");
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, _driftFile, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Warning($"cannot write drift file {_driftFile}: {e.Message}");
        }
    }

    private void OpenSockets()
    {
        var endPoints = new List<IPEndPoint>();
        List<IPAddress> listen = [.. _config.ListenAddresses, .. _options.ListenAddresses];
        foreach (string name in _config.InterfaceRules.Where(r => r.Action == "listen" && !IPAddress.TryParse(r.Target.Split('/')[0], out _)).Select(r => r.Target).Concat(_options.ListenInterfaces))
        {
            // An interface by name (interface listen eth0, -I eth0): its addresses now.
            IPAddress[] addresses = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .Where(i => i.Name == name)
                .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => u.Address))
                .Where(a => !a.IsIPv6LinkLocal)
                .ToArray();
            if (addresses.Length == 0)
            {
                _log.Warning($"interface {name}: no such interface or no address; not listening on it");
            }

            listen.AddRange(addresses);
        }

        if (listen.Count == 0 && (_config.InterfaceRules.Any(r => r.Action == "listen") || _options.ListenInterfaces.Count > 0))
        {
            _log.Warning("none of the listen interfaces has an address: listening on every address instead");
        }

        if (listen.Count > 0)
        {
            foreach (IPAddress address in listen)
            {
                bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
                if ((v6 && _options.UseIPv6) || (!v6 && _options.UseIPv4))
                {
                    endPoints.Add(new IPEndPoint(address, _options.Port));
                }
            }
        }
        else
        {
            if (_options.UseIPv4)
            {
                endPoints.Add(new IPEndPoint(IPAddress.Any, _options.Port));
            }

            if (_options.UseIPv6 && Socket.OSSupportsIPv6)
            {
                endPoints.Add(new IPEndPoint(IPAddress.IPv6Any, _options.Port));
            }
        }

        NtpSocketException? firstError = null;
        int index = 0;
        foreach (IPEndPoint endPoint in endPoints)
        {
            try
            {
                NtpSocket socket = NtpSocket.Bind(endPoint);
                _sockets.Add(socket);
                string kind = endPoint.Address.Equals(IPAddress.Any) ? "v4wildcard " : endPoint.Address.Equals(IPAddress.IPv6Any) ? "v6wildcard " : string.Empty;
                _log.Info($"Listen normally on {index++} {kind}{NtpSocket.Format(socket.LocalEndPoint)}");
            }
            catch (NtpSocketException e)
            {
                _log.Error($"unable to listen on {NtpSocket.Format(endPoint)}: {e.Message}");
                firstError ??= e;
            }
        }

        if (_sockets.Count == 0)
        {
            throw firstError ?? new NtpSocketException(0, "no address to listen on");
        }
    }

    private void ServeLoop(NtpSocket socket)
    {
        using var datagram = new Datagram();
        Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
        while (!_stop.IsCancellationRequested)
        {
            ReceiveResult result = socket.Receive(datagram, 500);
            if (result == ReceiveResult.Closed)
            {
                break;
            }

            Engine.Io.CountWakeup(result == ReceiveResult.Received);
            if (result != ReceiveResult.Received)
            {
                continue;
            }

            Engine.Io.CountReceived();
            if (datagram.Length == 0)
            {
                Engine.Io.CountIgnored();
                continue;
            }

            NtpTimestamp arrival = datagram.KernelReceiveTime ?? _clock.Now();
            if (NtpHeader.TryPeekModeAndVersion(datagram.Payload, out NtpMode mode, out _) && mode is NtpMode.SymmetricActive or NtpMode.SymmetricPassive or NtpMode.Server or NtpMode.Control)
            {
                if (!Engine.Io.TryQueue())
                {
                    Responder.Counters.CountBusy();
                    continue;
                }

                byte[] copy = datagram.Payload.ToArray();
                IPEndPoint from = datagram.RemoteEndPoint;
                double now = Now;
                IPAddress? local = datagram.LocalAddress;
                _inbox.Enqueue(() =>
                {
                    Engine.Io.Dequeued();
                    Engine.Receive(copy, from, arrival, now, local);
                });
                _wake.Set();
                continue;
            }

            // Client requests (and everything else the responder counts and drops) are handled right here.
            int length = Engine.Serve(datagram.Payload, datagram.SourceKey, arrival, reply);
            if (length > 0)
            {
                if (socket.Reply(datagram, reply[..length]))
                {
                    Engine.Io.CountSent();
                }
                else
                {
                    Engine.Io.CountSendFailed();
                }
            }
        }
    }
}
