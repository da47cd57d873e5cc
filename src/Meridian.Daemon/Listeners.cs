using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon;

/// <summary>A datagram for the engine, copied off a socket.</summary>
public sealed record ReceivedPacket(byte[] Payload, IPEndPoint From, NtpTimestamp Arrival, IPAddress? Local, IPAddress? Group = null);

/// <summary>
/// The server sockets — UDP port 123 on each address the <see cref="ListenPlan"/> chose — and who reads them. By
/// default each socket has a serving thread that answers client requests itself (they need nothing but the
/// engine's thread-safe responder) and hands every other packet to the event loop through a bounded queue; in the
/// one-thread setting the loop reads the sockets and does both.
/// </summary>
public sealed class Listeners(NtpEngine engine, IClock clock, EventLoop loop, Log log, Action<ReceivedPacket> deliver) : IDisposable
{
    /// <summary>Datagrams read from a socket in one go on the loop, so that a flood on one socket cannot starve the rest.</summary>
    private const int BatchOnLoop = 64;

    private readonly List<NtpSocket> _sockets = new();
    private readonly List<IPAddress> _bound = new();

    /// <summary>Sockets on a group or broadcast address: they receive, and never send.</summary>
    private readonly HashSet<NtpSocket> _receiveOnly = new();
    private readonly List<Thread> _threads = new();
    private readonly Datagram _loopDatagram = new();
    private volatile bool _stopping;

    public IReadOnlyList<NtpSocket> Sockets => _sockets;

    /// <summary>Opens a socket on each address; throws when none could be opened.</summary>
    /// <exception cref="NtpSocketException">With the first error, when no socket could be opened.</exception>
    public void Open(IEnumerable<IPAddress> addresses, int port, int dscp)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        NtpSocketException? firstError = null;
        int index = 0;
        foreach (IPAddress address in addresses)
        {
            var endPoint = new IPEndPoint(address, port);
            try
            {
                NtpSocket socket = NtpSocket.Bind(endPoint);
                _sockets.Add(socket);
                _bound.Add(address);
                TrySetDscp(socket, dscp);
                string kind = address.Equals(IPAddress.Any) ? "v4wildcard " : address.Equals(IPAddress.IPv6Any) ? "v6wildcard " : string.Empty;
                log.Info($"Listen normally on {index++} {kind}{NtpSocket.Format(socket.LocalEndPoint)}");
            }
            catch (NtpSocketException e)
            {
                log.Error($"unable to listen on {NtpSocket.Format(endPoint)}: {e.Message}");
                firstError ??= e;
            }
        }

        if (_sockets.Count == 0)
        {
            throw firstError ?? new NtpSocketException(0, "no address to listen on");
        }
    }

    /// <summary>Whether a packet from our address <paramref name="address"/> would leave by a socket of ours (a wildcard serves every address).</summary>
    public bool Serves(IPAddress address)
    {
        for (int i = 0; i < _sockets.Count; i++)
        {
            if (!_receiveOnly.Contains(_sockets[i]) && (_bound[i].Equals(address) || _bound[i].Equals(address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// <c>multicastclient</c> and <c>manycastserver</c> groups: joined on every multicast interface, by the wildcard
    /// socket of the family when there is one (it then receives the group's packets too), else by a socket bound to
    /// the group itself.
    /// </summary>
    public void JoinGroups(IEnumerable<IPAddress> groups, int port, IReadOnlyList<InterfaceAddress> interfaces)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(interfaces);
        foreach (IPAddress group in groups.Distinct())
        {
            IPAddress any = group.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
            int wildcard = _bound.FindIndex(a => a.Equals(any));
            NtpSocket? socket = wildcard >= 0 ? _sockets[wildcard] : OpenReceiveOnly(new IPEndPoint(group, port));
            if (socket is null)
            {
                continue;
            }

            int joined = 0;
            foreach (InterfaceAddress nic in interfaces.Where(i => i.Multicast && i.Address.AddressFamily == group.AddressFamily).GroupBy(i => i.Index).Select(g => g.First()))
            {
                try
                {
                    socket.JoinGroup(group, nic.Index);
                    joined++;
                }
                catch (NtpSocketException e)
                {
                    log.Warning($"cannot join multicast group {group} on {nic.Interface}: {e.Message}");
                }
            }

            log.Info(joined > 0 ? $"joined multicast group {group} on {joined} interface(s)" : $"multicast group {group}: no multicast interface to join it on");
        }
    }

    /// <summary>
    /// <c>broadcastclient</c>: the wildcard socket hears broadcasts already; sockets bound to single addresses do not,
    /// so each of their subnets' broadcast addresses (and 255.255.255.255) gets a socket of its own.
    /// </summary>
    public void HearBroadcasts(int port, IReadOnlyList<InterfaceAddress> interfaces)
    {
        ArgumentNullException.ThrowIfNull(interfaces);
        if (_bound.Any(a => a.Equals(IPAddress.Any)))
        {
            return;
        }

        IEnumerable<IPAddress> addresses = interfaces
            .Where(i => _bound.Contains(i.Address) && i.Broadcast is not null)
            .Select(i => i.Broadcast!)
            .Append(IPAddress.Broadcast)
            .Distinct();
        foreach (IPAddress broadcast in addresses)
        {
            OpenReceiveOnly(new IPEndPoint(broadcast, port));
        }
    }

    private NtpSocket? OpenReceiveOnly(IPEndPoint endPoint)
    {
        try
        {
            NtpSocket socket = NtpSocket.Bind(endPoint, reuseAddress: true);
            _sockets.Add(socket);
            _bound.Add(endPoint.Address);
            _receiveOnly.Add(socket);
            log.Info($"Listen normally on {_sockets.Count - 1} {NtpSocket.Format(socket.LocalEndPoint)} (receives only)");
            return socket;
        }
        catch (NtpSocketException e)
        {
            log.Warning($"unable to listen on {NtpSocket.Format(endPoint)}: {e.Message}");
            return null;
        }
    }

    /// <summary>Starts reading: a thread per socket, or readers on the loop in the one-thread setting.</summary>
    public void StartServing(bool singleThread)
    {
        foreach (NtpSocket socket in _sockets)
        {
            if (singleThread)
            {
                loop.AddReader(socket.Handle, () => ReadOnLoop(socket));
                continue;
            }

            var thread = new Thread(() => Serve(socket)) { IsBackground = true, Name = $"ntp-serve {socket.LocalEndPoint}" };
            _threads.Add(thread);
            thread.Start();
        }
    }

    /// <summary>
    /// The socket a packet from our address <paramref name="source"/> leaves by: the one bound to that address, else
    /// a wildcard socket of the family (which then says the address in a control message), else any of the family.
    /// </summary>
    public NtpSocket? For(IPAddress? source, AddressFamily family)
    {
        NtpSocket? wildcard = null;
        NtpSocket? any = null;
        for (int i = 0; i < _sockets.Count; i++)
        {
            NtpSocket socket = _sockets[i];
            if (socket.Family != family || socket.Handle < 0 || _receiveOnly.Contains(socket))
            {
                continue;
            }

            IPAddress bound = _bound[i];
            if (source is not null && bound.Equals(source))
            {
                return socket;
            }

            if (bound.Equals(IPAddress.Any) || bound.Equals(IPAddress.IPv6Any))
            {
                wildcard ??= socket;
            }

            any ??= socket;
        }

        return wildcard ?? any;
    }

    private void TrySetDscp(NtpSocket socket, int dscp)
    {
        try
        {
            socket.SetDscp(dscp);
        }
        catch (NtpSocketException e)
        {
            log.Warning($"dscp {dscp} on {NtpSocket.Format(socket.LocalEndPoint)}: {e.Message}");
        }
    }

    private void Serve(NtpSocket socket)
    {
        using var datagram = new Datagram();
        Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
        while (!_stopping)
        {
            ReceiveResult result = socket.Receive(datagram, 500);
            if (result == ReceiveResult.Closed)
            {
                break;
            }

            engine.Io.CountWakeup(result == ReceiveResult.Received);
            if (result != ReceiveResult.Received)
            {
                continue;
            }

            try
            {
                Handle(socket, datagram, reply, onLoop: false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A packet never ends the daemon: the fault is logged and serving goes on.
                log.Error($"internal error serving a packet from {datagram.RemoteEndPoint}, continuing: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private void ReadOnLoop(NtpSocket socket)
    {
        Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
        for (int n = 0; n < BatchOnLoop; n++)
        {
            ReceiveResult result = socket.TryReceive(_loopDatagram);
            engine.Io.CountWakeup(result == ReceiveResult.Received);
            if (result != ReceiveResult.Received)
            {
                return;
            }

            Handle(socket, _loopDatagram, reply, onLoop: true);
        }
    }

    /// <summary>Client requests are answered here; everything else goes to the engine on the loop.</summary>
    private void Handle(NtpSocket socket, Datagram datagram, Span<byte> reply, bool onLoop)
    {
        engine.Io.CountReceived();
        if (datagram.Length == 0)
        {
            engine.Io.CountIgnored();
            return;
        }

        NtpTimestamp arrival = datagram.ArrivalTime(clock);
        if (NtpHeader.TryPeekModeAndVersion(datagram.Payload, out NtpMode mode, out _) && mode is NtpMode.SymmetricActive or NtpMode.SymmetricPassive or NtpMode.Server or NtpMode.Control or NtpMode.Broadcast)
        {
            var packet = new ReceivedPacket(datagram.Payload.ToArray(), datagram.RemoteEndPoint, arrival, datagram.LocalAddress, datagram.Group);
            if (onLoop)
            {
                deliver(packet);
                return;
            }

            if (!engine.Io.TryQueue())
            {
                engine.Responder.Counters.CountBusy();
                return;
            }

            Post(packet);
            return;
        }

        // Client requests (and everything else the responder counts and drops) are answered right here.
        int length = engine.Serve(datagram.Payload, datagram.SourceKey, arrival, reply, toGroup: datagram.SentToGroup);
        if (length > 0)
        {
            if (socket.Reply(datagram, reply[..length]))
            {
                engine.Io.CountSent();
            }
            else
            {
                engine.Io.CountSendFailed();
            }
        }
    }

    /// <summary>
    /// Hands a packet to the loop. A method of its own because the closure it needs would otherwise be allocated on
    /// entry to <see cref="Handle"/>, for every client request too (the compiler hoists it to the method's scope).
    /// </summary>
    private void Post(ReceivedPacket packet) => loop.Post(() =>
    {
        engine.Io.Dequeued();
        deliver(packet);
    });

    public void Dispose()
    {
        _stopping = true;
        foreach (NtpSocket socket in _sockets)
        {
            loop.RemoveReader(socket.Handle);
            socket.Dispose();
        }

        foreach (Thread thread in _threads)
        {
            thread.Join(TimeSpan.FromSeconds(2));
        }

        _loopDatagram.Dispose();
    }
}
