using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon;

/// <summary>
/// Sends the engine's packets (called on the event loop). Replies and symmetric packets leave by the server socket
/// of the local address they must come from (<see cref="Listeners.For"/>). A client request leaves from a socket of
/// its own at a random port (RFC 9109), which the loop watches until the answer comes or 8 s pass.
/// </summary>
public sealed class Transport(EventLoop loop, IClock clock, Log log) : INtpTransport, IDisposable
{
    /// <summary>How long a client request's socket waits for the answer, seconds.</summary>
    public const double RequestLifetime = 8;

    private readonly HashSet<NtpSocket> _requests = new();
    private readonly HashSet<NtpSocket> _broadcasting = new();
    private readonly HashSet<IPAddress> _unreachableGroups = new();
    private readonly Dictionary<IPAddress, List<InterfaceAddress>> _reaching = new();
    private readonly Datagram _datagram = new();

    /// <summary>Set once the engine and the sockets exist.</summary>
    public Listeners? Listeners { get; set; }

    public IoCounters Counters { get; set; } = new();

    /// <summary>Where an answer to a client request goes (on the loop).</summary>
    public Action<ReceivedPacket>? Deliver { get; set; }

    public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (clientRequest)
        {
            return SendRequest(destination, source, packet);
        }

        NtpSocket? socket = Listeners?.For(source, destination.AddressFamily);
        if (socket is null)
        {
            Counters.CountSendFailed();
            return NtpTimestamp.Zero;
        }

        try
        {
            socket.SendFrom(packet, destination, source);
            Counters.CountSent();
        }
        catch (NtpSocketException e)
        {
            Counters.CountSendFailed();
            log.Debug($"send to {destination}: {e.Message}");
        }

        return NtpTimestamp.Zero;
    }

    private NtpTimestamp SendRequest(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet)
    {
        IPAddress any = destination.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
        NtpSocket socket;
        try
        {
            socket = Open(source is not null && source.AddressFamily == destination.AddressFamily ? source : any, any);
        }
        catch (NtpSocketException e)
        {
            Counters.CountSendFailed();
            log.Debug($"request to {destination}: {e.Message}");
            return NtpTimestamp.Zero;
        }

        // T1 last: after the socket exists, just before sendmsg.
        NtpTimestamp sent = clock.Now();
        try
        {
            socket.SendTo(packet, destination);
            Counters.CountSent();
        }
        catch (NtpSocketException e)
        {
            socket.Dispose();
            Counters.CountSendFailed();
            log.Debug($"request to {destination}: {e.Message}");
            return NtpTimestamp.Zero;
        }

        _requests.Add(socket);
        LoopTimer expiry = loop.After(RequestLifetime, () => Close(socket));
        loop.AddReader(socket.Handle, () =>
        {
            while (socket.TryReceive(_datagram) == ReceiveResult.Received)
            {
                IPEndPoint from = _datagram.RemoteEndPoint;
                if (!from.Address.Equals(destination.Address))
                {
                    continue;
                }

                NtpTimestamp arrival = _datagram.ArrivalTime(clock);
                var answer = new ReceivedPacket(_datagram.Payload.ToArray(), from, arrival, _datagram.LocalAddress);
                expiry.Cancel();
                Close(socket);
                Deliver?.Invoke(answer);
                return;
            }
        });
        return sent;
    }

    /// <summary>Finds the interfaces of the broadcast and manycast addresses before the first packet to them.</summary>
    public void Prepare(IEnumerable<IPAddress> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        foreach (IPAddress group in groups)
        {
            _reaching[group] = Reaching(group);
        }
    }

    public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest)
    {
        ArgumentNullException.ThrowIfNull(group);
        // The packet's transmit timestamp is already in it: the interfaces come from the list made after the last
        // send (reading them costs a millisecond, which would otherwise pass between the stamp and the send).
        if (!_reaching.TryGetValue(group.Address, out List<InterfaceAddress>? targets))
        {
            targets = Reaching(group.Address);
        }

        try
        {
            return SendToGroup(group, targets, packet, ttl, clientRequest);
        }
        finally
        {
            _reaching[group.Address] = Reaching(group.Address);
        }
    }

    private NtpTimestamp SendToGroup(IPEndPoint group, List<InterfaceAddress> targets, ReadOnlySpan<byte> packet, int ttl, bool clientRequest)
    {
        if (targets.Count == 0)
        {
            Counters.CountSendFailed();
            if (_unreachableGroups.Add(group.Address))
            {
                log.Warning($"{group.Address}: no interface reaches it (no subnet with that broadcast address, or no multicast interface); nothing is sent");
            }

            return NtpTimestamp.Zero;
        }

        bool multicast = IsMulticast(group.Address);
        NtpSocket? request = null;
        if (clientRequest)
        {
            try
            {
                request = NtpSocket.BindEphemeral(group.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any);
            }
            catch (NtpSocketException e)
            {
                Counters.CountSendFailed();
                log.Debug($"request to {group}: {e.Message}");
                return NtpTimestamp.Zero;
            }
        }

        NtpTimestamp sent = clock.Now();
        foreach (InterfaceAddress target in targets)
        {
            NtpSocket? socket = request ?? Listeners?.For(target.Address, group.AddressFamily);
            if (socket is null)
            {
                Counters.CountSendFailed();
                continue;
            }

            try
            {
                if (multicast)
                {
                    socket.SetMulticast(target.Index, Math.Clamp(ttl, 1, 255));
                    socket.SendTo(packet, group);
                }
                else
                {
                    if (_broadcasting.Add(socket))
                    {
                        socket.EnableBroadcast();
                    }

                    socket.SendFrom(packet, group, target.Address, target.Index);
                }

                Counters.CountSent();
            }
            catch (NtpSocketException e)
            {
                Counters.CountSendFailed();
                log.Debug($"send to {group} on {target.Interface}: {e.Message}");
            }
        }

        if (request is not null)
        {
            // A manycast request: every server that answers is heard, until the socket's lifetime ends.
            _requests.Add(request);
            loop.After(RequestLifetime, () => Close(request));
            loop.AddReader(request.Handle, () =>
            {
                while (request.TryReceive(_datagram) == ReceiveResult.Received)
                {
                    Deliver?.Invoke(new ReceivedPacket(_datagram.Payload.ToArray(), _datagram.RemoteEndPoint, _datagram.ArrivalTime(clock), _datagram.LocalAddress));
                }
            });
        }

        return sent;
    }

    /// <summary>
    /// The interfaces a packet to <paramref name="group"/> goes out on: each up, multicast-capable one of the family for
    /// a group; for a broadcast address, the one whose subnet it is (every IPv4 one for 255.255.255.255); only those
    /// the daemon listens on when interface rules choose the addresses.
    /// </summary>
    private List<InterfaceAddress> Reaching(IPAddress group)
    {
        IEnumerable<InterfaceAddress> candidates = InterfaceAddress.OfThisHost()
            .Where(a => a.Address.AddressFamily == group.AddressFamily && !a.Loopback && a.Multicast && (Listeners?.Serves(a.Address) ?? true));
        if (IsMulticast(group))
        {
            return candidates.GroupBy(a => a.Index).Select(g => g.First()).ToList();
        }

        return group.Equals(IPAddress.Broadcast) ? candidates.ToList() : candidates.Where(a => group.Equals(a.Broadcast)).ToList();
    }

    private static bool IsMulticast(IPAddress address) =>
        address.IsIPv6Multicast || (address.AddressFamily == AddressFamily.InterNetwork && address.GetAddressBytes()[0] is >= 224 and < 240);

    /// <summary>A socket at a random port on <paramref name="local"/>, or on the wildcard when that address is gone.</summary>
    private static NtpSocket Open(IPAddress local, IPAddress any)
    {
        try
        {
            return NtpSocket.BindEphemeral(local);
        }
        catch (NtpSocketException) when (!local.Equals(any))
        {
            return NtpSocket.BindEphemeral(any);
        }
    }

    private void Close(NtpSocket socket)
    {
        _broadcasting.Remove(socket);
        if (_requests.Remove(socket))
        {
            loop.RemoveReader(socket.Handle);
            socket.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (NtpSocket socket in _requests.ToList())
        {
            Close(socket);
        }

        _datagram.Dispose();
    }
}
