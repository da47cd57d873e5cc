using System.Net;
using System.Net.Sockets;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Nts;

namespace Meridian.Daemon;

/// <summary>
/// ntpd's process, wired together: the <see cref="DaemonPlan"/> translated from the configuration, the engine, the
/// <see cref="EventLoop"/> that runs it, the <see cref="Listeners"/> and <see cref="Transport"/>, the
/// <see cref="NameResolver"/>, the <see cref="DriftFile"/>, <see cref="RemoteConfiguration"/> and <see cref="SetOnce"/>.
/// Everything that touches the engine after <see cref="Start"/> runs on the loop's thread.
/// </summary>
public sealed class NtpDaemon : IDisposable
{
    /// <summary>Packets that may wait for the loop; more are dropped (and counted), so a flood cannot grow memory.</summary>
    public const int MaxPendingPackets = 4096;

    private readonly NtpConfiguration _config;
    private readonly DaemonOptions _options;
    private readonly Log _log;
    private readonly IClock _clock;
    private readonly IClockControl _control;
    private readonly EventLoop _loop;
    private readonly NameResolver _resolver;
    private readonly Transport _transport;
    private readonly Listeners _listeners;
    private readonly RuntimeConfiguration _runtime;
    private readonly RemoteConfiguration _remote;
    private readonly DriftFile? _drift;
    private readonly LeapFile? _leapFile;
    private double _nextTick;
    private Thread? _background;
    private bool _stopped;

    public NtpDaemon(NtpConfiguration config, DaemonOptions options, Log log, IClock clock, sbyte precision)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _drift = DaemonPlan.DriftPath(config, options) is string driftPath ? new DriftFile(driftPath, log) : null;
        Plan = DaemonPlan.From(config, options, _drift?.Read(), precision);

        // -q makes one correction itself, below, instead of leaving a slew running behind it.
        _control = config.ClockControl && !options.SetOnceAndExit ? new LinuxClockControl(options.KernelClock, log) : NoClockControl.Instance;
        _loop = new EventLoop(log, selfPipe: !options.SingleThread);
        _resolver = new NameResolver(_loop, inline: options.SingleThread);
        _transport = new Transport(_loop, clock, log) { Deliver = Deliver };
        Engine = new NtpEngine(Plan.Engine with { Host = KernelClockState.Describe(options.Version) }, clock, _control, _transport, CryptoRandomSource.Instance);
        _transport.Counters = Engine.Io;
        Engine.Devices = new RefclockDevices(_loop, clock);
        _listeners = new Listeners(Engine, clock, _loop, log, Deliver);
        _transport.Listeners = _listeners;
        _runtime = new RuntimeConfiguration(config, Engine, log) { StatisticsChanged = OpenStatistics };
        _leapFile = config.LeapFile is string leapPath ? new LeapFile(leapPath, Engine, clock, log) : null;
        OpenStatistics();
        _remote = new RemoteConfiguration(Engine, _runtime, AddAssociations, ResolveRestrictNames, log);
    }

    private StatisticsFiles? _statistics;

    /// <summary>The statistics files being written (for tests).</summary>
    public StatisticsFiles? Statistics => _statistics;

    /// <summary>(Re)opens the statistics files as the configuration asks for them now, and says which.</summary>
    private void OpenStatistics()
    {
        _statistics?.Dispose();
        _statistics = new StatisticsFiles(_runtime.StatisticsFiles(), _log);
        Engine.Statistics = _statistics;
        if (_statistics.Enabled.Count > 0)
        {
            _log.Info($"statistics: {string.Join(", ", _statistics.Enabled.Select(f => $"{f.Name} ({f.Type}{(f.Link ? ", linked" : "")})"))} into {Path.GetDirectoryName(_statistics.Enabled.First().Prefix)}");
        }
    }

    /// <summary>What the configuration and the command line were translated into.</summary>
    public DaemonPlan Plan { get; }

    /// <summary>The engine; touch it only on the loop's thread, or before <see cref="Start"/>.</summary>
    public NtpEngine Engine { get; }

    public ServerResponder Responder => Engine.Responder;

    public IReadOnlyList<IPEndPoint> LocalEndPoints => _listeners.Sockets.Select(s => s.LocalEndPoint).ToList();

    /// <summary>The leap seconds file (<c>leapfile</c>), if configured.</summary>
    public LeapFile? LeapFile => _leapFile;

    private NtsServer? _nts;
    private NtsClient? _ntsClient;
    private NtsRefusals? _ntsRefusals;

    /// <summary>The NTS-KE client of <c>server ... nts</c> associations (for tests).</summary>
    public NtsClient? NtsClient => _ntsClient;

    /// <summary>The NTS server (<c>nts enable</c>), once started.</summary>
    public NtsServer? Nts => _nts;

    /// <summary>The server sockets (for tests).</summary>
    internal Listeners Listeners => _listeners;

    /// <summary>0, or 1 after a panic or a failed <c>-q</c>.</summary>
    public int ExitCode { get; private set; }

    /// <summary>Why the daemon stopped (a signal's name, "after setting the clock", ...), once it has.</summary>
    public string? StopReason { get; private set; }

    /// <summary>Opens the sockets, adds the associations and starts serving. Throws <see cref="NtpSocketException"/> when no socket can be opened.</summary>
    public void Start()
    {
        ReportConfiguration();
        _leapFile?.Load("at start");
        var problems = new List<string>();
        List<InterfaceAddress> interfaces = InterfaceAddress.OfThisHost();
        List<IPAddress> addresses = ListenPlan.Choose(_config.InterfaceRules, _options, interfaces, problems);
        problems.ForEach(_log.Warning);
        _listeners.Open(addresses, _options.Port, _config.Dscp);
        _listeners.JoinGroups(_config.MulticastClientGroups.Concat(_config.ManycastServerGroups), _options.Port, interfaces);
        if (_config.BroadcastClient || _config.SystemFlags.BroadcastClient)
        {
            // broadcastclient (not multicastclient, which joins its groups only): the subnets' broadcast addresses.
            _listeners.HearBroadcasts(_options.Port, interfaces);
        }
        _transport.Prepare(Plan.Associations
            .Select(a => a.Settings)
            .Where(s => s is { Mode: AssociationMode.Broadcast or AssociationMode.ManycastClient })
            .Select(s => s!.Address.Address));
        foreach (PlannedAssociation association in Plan.Associations)
        {
            Add(association);
        }

        if (_config.Nts.Enabled)
        {
            StartNts();
        }

        if (_config.Associations.Any(a => a.Nts))
        {
            _ntsClient = new NtsClient(Engine, _config.Nts, _loop.Post, _log);
        }

        Engine.NtsKeCounts = NtsKeCounts;

        ResolveRestrictNames(AccessList.HostNames(_config.Restrictions));
        _nextTick = EventLoop.Now;
        _loop.At(_nextTick, Tick);
        _listeners.StartServing(_options.SingleThread);
    }

    /// <summary>Runs the event loop on the calling thread until the daemon stops; returns the exit code.</summary>
    public int Run()
    {
        _loop.Run();
        return ExitCode;
    }

    /// <summary>Runs the loop on a thread of its own (the in-process tests do; ntpd runs it on its main thread).</summary>
    public void RunInBackground()
    {
        _background = new Thread(() => Run()) { IsBackground = true, Name = "ntp-loop" };
        _background.Start();
    }

    /// <summary>Stops the loop (SIGTERM, SIGINT); safe from any thread.</summary>
    public void RequestStop(string reason) => _loop.Post(() => Finish(reason, 0));

    /// <summary>
    /// SIGHUP, as NTPsec: the log file opened again (for logrotate), the keys file and the leap seconds file read
    /// again, and names that did not resolve tried again now; safe from any thread.
    /// </summary>
    public void RequestReload() => _loop.Post(Reload);

    /// <summary>Stops everything and saves the drift file; what <see cref="Run"/> returns to, or the tests' end.</summary>
    public void Stop()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _loop.Stop();
        _background?.Join(TimeSpan.FromSeconds(5));
        foreach (Association association in Engine.Associations)
        {
            association.Driver?.Close();
        }

        _listeners.Dispose();
        _nts?.Dispose();
        _transport.Dispose();
        _statistics?.Dispose();
        _resolver.Dispose();
        SaveDrift();
        if (_control is LinuxClockControl { Failures: > 0 } kernel)
        {
            _log.Warning($"the kernel refused {kernel.Failures} clock call(s) while the daemon ran (the last: {kernel.LastFailure})");
        }
    }

    public void Dispose()
    {
        Stop();
        _loop.Dispose();
    }

    private void Finish(string reason, int exitCode)
    {
        StopReason ??= reason;
        ExitCode = exitCode;
        _loop.Stop();
    }

    /// <summary>The once-a-second timer: the engine's tick, the kernel state for mode 6, and the hourly drift file.</summary>
    private void Tick()
    {
        double now = EventLoop.Now;
        Engine.Kernel = KernelClockState.Read(_options.KernelClock);
        Engine.Tick(now);
        AfterEngine();
        _drift?.Tick(now, Disciplining, Engine.Discipline.Frequency * 1e6);
        _leapFile?.Tick(now);
        _nts?.Tick(_clock.Now().ToDateTime());
        if (_nts is not null)
        {
            (_ntsRefusals ??= new NtsRefusals(_log)).Tick(now, Engine.Responder.Counters, _nts.Counters, _nts.Service.Refused);
        }

        _ntsClient?.Tick(now);

        _nextTick += 1;
        if (_nextTick < now)
        {
            _nextTick = now + 1;
        }

        _loop.At(_nextTick, Tick);
    }

    /// <summary>A packet for the engine, on the loop.</summary>
    private void Deliver(ReceivedPacket packet)
    {
        Engine.Receive(packet.Payload, packet.From, packet.Arrival, EventLoop.Now, packet.Local, packet.Group);
        AfterEngine();
    }

    /// <summary>What the engine asked for while it ran: log lines, names, :config answers, the end of -q or a panic.</summary>
    private void AfterEngine()
    {
        while (Engine.Events.TryDequeue(out EngineEvent? e))
        {
            _log.Notice(e.Message);
        }

        while (Engine.ResolveRequests.TryDequeue(out Pool? pool))
        {
            ResolvePool(pool);
        }

        while (Engine.ConfigurationRequests.TryDequeue(out ConfigurationRequest? request))
        {
            Engine.AnswerConfiguration(request, _remote.Apply(request.Text), EventLoop.Now);
            while (Engine.Events.TryDequeue(out EngineEvent? e))
            {
                _log.Notice(e.Message);
            }
        }

        if (Engine.Panicked)
        {
            Finish("with an error", 1);
            return;
        }

        if (_options.SetOnceAndExit && StopReason is null && Engine.State.IsSynchronized && Engine.SystemPeer is { IsRefclock: false })
        {
            int code = SetOnce.Correct(Engine.SystemOffset, Plan.StepThreshold, _config.ClockControl, _log);
            Finish(code == 0 ? "after setting the clock" : "with an error", code);
        }
    }

    /// <summary>
    /// <c>nts enable</c>: the NTS-KE listener and the cookie keys the NTP server opens cookies with. One that cannot
    /// start (no certificate, a port in use) is an error in the log; plain NTP is served on.
    /// </summary>
    private void StartNts()
    {
        try
        {
            _nts = NtsServer.Start(_config.Nts, _options.ListenAddresses, _options.NtsKePort, _log);
            // The NTP server opens the cookies the NTS-KE server seals: one key set for both.
            Engine.Responder.NtsCookieKeys = _nts.Keys;
        }
        catch (InvalidOperationException e)
        {
            _log.Error(e.Message + "; NTP is served without NTS");
        }
    }

    /// <summary>The NTS-KE counters for mode 6: the TLS listener's and the service's, and the client's exchanges.</summary>
    private NtsKeCounts NtsKeCounts()
    {
        NtsKeServerCounters? tls = _nts?.Counters;
        NtsKeService? service = _nts?.Service;
        return new NtsKeCounts(
            Handshakes: tls?.HandshakesOk ?? 0,
            Responses: service?.Responses ?? 0,
            Refused: service?.Refused ?? 0,
            Failed: tls is null ? 0 : tls.HandshakesFailed + tls.TimedOut + tls.RefusedBusy,
            CookiesMade: (service?.Responses ?? 0) * NtsKeService.CookiesPerResponse,
            ProbesGood: _ntsClient?.Completed ?? 0,
            ProbesBad: _ntsClient?.Failed ?? 0);
    }

    private void Reload()
    {
        try
        {
            _log.Reopen();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.Error($"SIGHUP: cannot open the log file again ({e.Message}); logging to the old one");
        }

        _log.Notice($"SIGHUP: log file reopened, keys file read{(_leapFile is null ? string.Empty : ", leap seconds file read")}, names that did not resolve tried again");
        if (_runtime.ReadKeys() is string problem)
        {
            _log.Error("SIGHUP: " + problem + "; the keys in use are kept");
        }

        _leapFile?.Load("SIGHUP");
        _nts?.Reload();
        _resolver.RetryNow();
        ResolveRestrictNames(_runtime.UnresolvedNames.ToList());
    }

    /// <summary>The associations of configuration lines (start-up and <c>:config</c>).</summary>
    private void AddAssociations(NtpConfiguration lines)
    {
        foreach (AssociationConfig association in lines.Associations)
        {
            if (!lines.Unpeer.Contains(association.Address))
            {
                Add(DaemonPlan.Plan(association, lines.Fudges.Count > 0 ? lines.Fudges : _config.Fudges));
            }
        }
    }

    private void Add(PlannedAssociation planned)
    {
        AssociationConfig a = planned.Config;
        _log.Info(planned.Settings?.Mode switch
        {
            AssociationMode.Broadcast => $"configured broadcast {a.Address} minpoll {a.MinPoll} ttl {planned.Settings.Ttl} version {a.Version}",
            AssociationMode.ManycastClient => $"configured manycastclient {a.Address} minpoll {a.MinPoll} maxpoll {a.MaxPoll} ttl {planned.Settings.Ttl}",
            _ => $"configured {Describe(a)}",
        });
        if (a.Kind == AssociationKind.Pool)
        {
            Engine.AddPool(a.Address, planned.Settings!);
        }
        else if (planned.Settings is { } settings)
        {
            Engine.Add(settings);
        }
        else if (planned.NeedsName)
        {
            // In the background, retried with back-off while it fails (and at once on SIGHUP).
            _resolver.ResolveUntilFound(
                a.Address,
                Wanted,
                address =>
                {
                    Engine.Add(DaemonPlan.Settings(a, address));
                    _log.Info($"{a.Kind.ToString().ToLowerInvariant()} {a.Address}: resolved to {address}");
                    AfterEngine();
                },
                (error, retry) => _log.Warning($"{a.Address}: cannot resolve ({error}); retrying in {retry:0} s"));
        }
    }

    /// <summary>Answers the engine's request for a pool's addresses (the engine paces the requests and retries).</summary>
    private void ResolvePool(Pool pool) =>
        _resolver.Resolve(pool.Name, (addresses, error) =>
        {
            if (error is not null)
            {
                _log.Warning($"pool {pool.Name}: cannot resolve ({error}); the engine asks again later");
            }

            Engine.PoolResolved(pool, addresses.Where(Wanted).ToList(), EventLoop.Now);
            AfterEngine();
        });

    /// <summary>Host names of restrict lines: each stands for its addresses once resolved (until then for none).</summary>
    private void ResolveRestrictNames(IEnumerable<string> names)
    {
        foreach (string name in names)
        {
            _runtime.UnresolvedNames.Add(name);
            _resolver.Resolve(name, (addresses, error) =>
            {
                if (addresses.Length == 0)
                {
                    _log.Warning($"restrict {name}: cannot resolve ({error}); the line stands for no address until it does (SIGHUP tries again)");
                    return;
                }

                _runtime.Resolved(name, addresses);
                _log.Info($"restrict {name}: {string.Join(' ', addresses.Select(a => a.ToString()))}");
            });
        }
    }

    private bool Wanted(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork ? _options.UseIPv4 : _options.UseIPv6;

    /// <summary>The daemon disciplines the clock and is synchronized: the frequency it uses is worth keeping.</summary>
    private bool Disciplining => _control.CanAdjust && Engine.State.IsSynchronized;

    private void SaveDrift()
    {
        if (_drift?.Save(Disciplining, Engine.Discipline.Frequency * 1e6) is double saved)
        {
            _log.Info($"drift file {_drift.Path} saved: {saved:0.000000} PPM");
        }
    }

    private void ReportConfiguration()
    {
        _log.Info($"proto: precision = {Math.Pow(2, Plan.Engine.Precision) * 1e6:0.000} usec ({Plan.Engine.Precision})");
        _log.Notice(!_config.ClockControl
            ? "disable ntp: the system clock is never adjusted"
            : $"clock discipline: {Engine.Discipline.Name}{(_options.SetOnceAndExit ? " (-q: one correction, then exit)" : string.Empty)}");
        foreach (ConfigDiagnostic warning in _config.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning))
        {
            _log.Warning(warning.ToString());
        }

        foreach (string warning in Plan.Warnings)
        {
            _log.Warning(warning);
        }

        if (_config.Keys.Count > 0)
        {
            _log.Notice($"{_config.Keys.Count} symmetric keys read, {Engine.Keys.Trusted.Count} trusted");
        }

        if (_options.SingleThread)
        {
            _log.Info("single thread: client requests are served on the event loop");
        }

        if (!ReceiveTimestamps.Trusted(_clock))
        {
            _log.Notice($"kernel receive timestamps are {ReceiveTimestamps.Difference(_clock):+0.000000;-0.000000} s off the clock the daemon reads (a clock interposer?): arrival times are read at receipt instead");
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
}
