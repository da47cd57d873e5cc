using System.Net;
using System.Net.Sockets;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>Command-line settings of the daemon that are not in ntp.conf.</summary>
public sealed record DaemonOptions
{
    /// <summary>UDP port to serve; 123 unless a test asks for another (0 picks a free one).</summary>
    public int Port { get; init; } = 123;

    public bool UseIPv4 { get; init; } = true;

    public bool UseIPv6 { get; init; } = true;

    /// <summary>Addresses from <c>-I</c>, added to <c>interface listen</c>.</summary>
    public IReadOnlyList<IPAddress> ListenAddresses { get; init; } = [];
}

/// <summary>
/// The serving side of ntpd: sockets on every address (or the configured ones), a receive thread per socket that
/// answers through <see cref="ServerResponder"/>, and the system state from the configured sources.
/// </summary>
public sealed class NtpDaemon : IDisposable
{
    private readonly NtpConfiguration _config;
    private readonly DaemonOptions _options;
    private readonly Log _log;
    private readonly IClock _clock;
    private readonly List<NtpSocket> _sockets = new();
    private readonly List<Thread> _threads = new();
    private readonly LocalClockDriver? _localClock;
    private volatile bool _stopping;
    private Timer? _localClockTimer;

    public NtpDaemon(NtpConfiguration config, DaemonOptions options, Log log, IClock clock, sbyte precision)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        Precision = precision;
        _localClock = ChooseLocalClock(config);
        Responder = new ServerResponder(clock, SystemState.Unsynchronized(precision));
    }

    public sbyte Precision { get; }

    public ServerResponder Responder { get; }

    public IReadOnlyList<IPEndPoint> LocalEndPoints => _sockets.ConvertAll(s => s.LocalEndPoint);

    /// <summary>Opens the sockets and starts serving. Throws <see cref="NtpSocketException"/> when no socket can be opened.</summary>
    public void Start()
    {
        ReportConfiguration();
        OpenSockets();
        foreach (NtpSocket socket in _sockets)
        {
            var thread = new Thread(() => ServeLoop(socket)) { IsBackground = true, Name = $"ntp-rx {socket.LocalEndPoint}" };
            _threads.Add(thread);
            thread.Start();
        }

        if (_localClock is not null)
        {
            PollLocalClock(null);
            TimeSpan period = TimeSpan.FromSeconds(1 << LocalClockDriver.PollExponent);
            _localClockTimer = new Timer(PollLocalClock, null, period, period);
            SystemState state = Responder.State;
            _log.Notice($"system peer 127.127.1.{_localClock.Unit} (LOCAL({_localClock.Unit})), driver stratum {_localClock.Stratum}; serving at stratum {state.Stratum}, refid {state.ReferenceId.ToAscii()}");
        }
        else
        {
            _log.Notice("no usable time source: serving as unsynchronized (leap 3, stratum 16)");
        }
    }

    public void Stop()
    {
        _stopping = true;
        _localClockTimer?.Dispose();
        foreach (NtpSocket socket in _sockets)
        {
            socket.Dispose();
        }

        foreach (Thread thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(2));
        }
    }

    public void Dispose() => Stop();

    private static LocalClockDriver? ChooseLocalClock(NtpConfiguration config)
    {
        LocalClockDriver? best = null;
        foreach (AssociationConfig association in config.Associations)
        {
            if (association.Refclock is not { Type: 1 } clock || association.NoSelect)
            {
                continue;
            }

            config.Fudges.TryGetValue(clock, out FudgeConfig? fudge);
            ReferenceId? refid = fudge?.RefId is { } text ? ReferenceId.FromAscii(text) : null;
            var driver = new LocalClockDriver(clock.Unit, fudge?.Stratum, refid);
            if (best is null || driver.Stratum < best.Stratum)
            {
                best = driver;
            }
        }

        return best;
    }

    private void ReportConfiguration()
    {
        _log.Info($"proto: precision = {Math.Pow(2, Precision) * 1e6:0.000} usec ({Precision})");
        if (!_config.ClockControl)
        {
            _log.Notice("disable ntp: the system clock is never adjusted");
        }
        else
        {
            _log.Notice("the clock discipline is not available in this build yet: the system clock is not adjusted");
        }

        foreach (AssociationConfig association in _config.Associations)
        {
            if (association.Refclock is { } clock)
            {
                if (clock.Type != 1)
                {
                    _log.Warning($"reference clock {clock}: driver type {clock.Type} is not available in this build yet; ignored");
                }
            }
            else
            {
                _log.Warning($"{association.Kind.ToString().ToLowerInvariant()} {association.Address}: polling remote servers is not available in this build yet; ignored");
            }
        }

        foreach (string directive in _config.NotYetInEffect)
        {
            _log.Info($"'{directive}' is read but not in effect in this build yet");
        }
    }

    private void OpenSockets()
    {
        var endPoints = new List<IPEndPoint>();
        List<IPAddress> listen = [.. _config.ListenAddresses, .. _options.ListenAddresses];
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

    private void PollLocalClock(object? unused)
    {
        if (_localClock is not null)
        {
            Responder.State = _localClock.SystemStateAt(_clock.Now(), Precision);
        }
    }

    private void ServeLoop(NtpSocket socket)
    {
        using var datagram = new Datagram();
        Span<byte> reply = stackalloc byte[NtpHeader.Size];
        while (!_stopping)
        {
            ReceiveResult result = socket.Receive(datagram, 500);
            if (result == ReceiveResult.Closed)
            {
                break;
            }

            if (result != ReceiveResult.Received)
            {
                continue;
            }

            NtpTimestamp receiveTime = datagram.KernelReceiveTime ?? _clock.Now();
            int length = Responder.Respond(datagram.Payload, receiveTime, reply);
            if (length > 0)
            {
                socket.Reply(datagram, reply[..length]);
            }
        }
    }
}
