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
