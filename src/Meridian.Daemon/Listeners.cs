using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon;

/// <summary>A datagram for the engine, copied off a socket.</summary>
public sealed record ReceivedPacket(byte[] Payload, IPEndPoint From, NtpTimestamp Arrival, IPAddress? Local);

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
            if (socket.Family != family || socket.Handle < 0)
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
        if (NtpHeader.TryPeekModeAndVersion(datagram.Payload, out NtpMode mode, out _) && mode is NtpMode.SymmetricActive or NtpMode.SymmetricPassive or NtpMode.Server or NtpMode.Control)
        {
            var packet = new ReceivedPacket(datagram.Payload.ToArray(), datagram.RemoteEndPoint, arrival, datagram.LocalAddress);
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

            loop.Post(() =>
            {
                engine.Io.Dequeued();
                deliver(packet);
            });
            return;
        }

        // Client requests (and everything else the responder counts and drops) are answered right here.
        int length = engine.Serve(datagram.Payload, datagram.SourceKey, arrival, reply);
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
