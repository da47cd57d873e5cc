using System.Net;
using System.Net.Sockets;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>A server's answer to one request, with the four timestamps of the exchange.</summary>
public sealed record NtpResponse(IPEndPoint Server, NtpHeader Header, NtpTimestamp T1, NtpTimestamp T4)
{
    public NtpTimestamp T2 => Header.ReceiveTimestamp;

    public NtpTimestamp T3 => Header.TransmitTimestamp;

    public OnWireSample Sample => OnWireSample.FromTimestamps(T1, T2, T3, T4);

    public bool IsKissOfDeath => KissCode.IsKissOfDeath(Header);
}

/// <summary>
/// The client side of one-shot queries (ntpdate, ntpdig): sends mode 3 requests and matches the replies to them by
/// sender and origin timestamp, so that stale, duplicate or spoofed replies are not taken.
/// </summary>
public sealed class NtpClient : IDisposable
{
    private readonly IClock _clock;
    private readonly NtpSocket? _v4;
    private readonly NtpSocket? _v6;
    private readonly Datagram _datagram = new();
    /// <summary>Per server: the transmit timestamp the request carried (its reply must echo it) and when it really left (T1).</summary>
    private readonly Dictionary<IPEndPoint, (NtpTimestamp Sent, NtpTimestamp T1)> _outstanding = new();
    private readonly KeyStore _keys = new(new AuthCounters());
    private SymmetricKey? _key;

    private NtpClient(IClock clock, NtpSocket? v4, NtpSocket? v6)
    {
        _clock = clock;
        _v4 = v4;
        _v6 = v6;
    }

    /// <summary>
    /// Opens the sockets for the address families in <paramref name="servers"/>, on <paramref name="localPort"/>
    /// (123 for ntpdate without -u, 0 for a random port).
    /// </summary>
    /// <exception cref="NtpSocketException">When the port cannot be bound (in use, or no permission).</exception>
    public static NtpClient Open(IClock clock, IEnumerable<IPAddress> servers, int localPort)
    {
        ArgumentNullException.ThrowIfNull(servers);
        bool needV4 = false;
        bool needV6 = false;
        foreach (IPAddress address in servers)
        {
            needV4 |= address.AddressFamily == AddressFamily.InterNetwork;
            needV6 |= address.AddressFamily == AddressFamily.InterNetworkV6;
        }

        NtpSocket? v4 = null;
        NtpSocket? v6 = null;
        try
        {
            if (needV4)
            {
                v4 = NtpSocket.Bind(new IPEndPoint(IPAddress.Any, localPort));
            }

            if (needV6)
            {
                v6 = NtpSocket.Bind(new IPEndPoint(IPAddress.IPv6Any, localPort));
            }
        }
        catch
        {
            v4?.Dispose();
            v6?.Dispose();
            throw;
        }

        return new NtpClient(clock, v4, v6);
    }

    /// <summary>
    /// The key requests are signed with (ntpdate's and ntpdig's <c>-a keyid -k keyfile</c>); with a key, only replies
    /// signed with it are taken, judged by the daemon's <see cref="KeyStore"/>.
    /// </summary>
    public SymmetricKey? Key
    {
        get => _key;
        set
        {
            _key = value;
            _keys.Replace(value is null ? [] : [value]);
        }
    }

    /// <summary>
    /// The NTS keys and cookies of an NTS-KE (ntpdig's <c>--nts</c>): requests then carry the NTS fields (RFC 8915
    /// §5.7) and only a reply that echoes our Unique Identifier and authenticates is taken. A NAK ends the wait for
    /// that server. Set it for one server at a time: its Unique Identifier is that of the last request sent.
    /// </summary>
    public NtsClientState? Nts { get; set; }

    /// <summary>With <see cref="Nts"/>: why the last refused reply was refused (NAK, failed authenticator), or null.</summary>
    public string? NtsRefusal { get; private set; }

    /// <summary>
    /// Sends a client request to <paramref name="server"/> and returns T1, the time it left. The packet carries a
    /// transmit timestamp read before its MAC is computed; T1 is read after everything else, just before
    /// <c>sendmsg</c>, and the reply is matched by the timestamp it carried but measured from T1, so that neither the
    /// MAC nor anything else before the send adds to the offset.
    /// </summary>
    public NtpTimestamp SendRequest(IPEndPoint server, byte version, sbyte poll = 6)
    {
        ArgumentNullException.ThrowIfNull(server);
        NtpSocket socket = (server.AddressFamily == AddressFamily.InterNetworkV6 ? _v6 : _v4)
            ?? throw new InvalidOperationException($"no socket for {server.AddressFamily}");
        Span<byte> request = stackalloc byte[Math.Max(ServerResponder.MaxReplyLength, NtsClientState.MaxRequestLength)];
        var header = new NtpHeader
        {
            Leap = LeapIndicator.Unsynchronized,
            Version = version,
            Mode = NtpMode.Client,
            Poll = poll,
            Precision = -6,
            RootDelay = new NtpShort(0x10000),
            RootDispersion = new NtpShort(0x10000),
            TransmitTimestamp = _clock.Now(),
        };
        header.Write(request);
        int length = Nts is NtsClientState nts ? nts.WriteRequestFields(request, NtpHeader.Size, CryptoRandomSource.Instance)
            : _key is SymmetricKey key ? _keys.Sign(key, request, NtpHeader.Size) : NtpHeader.Size;

        NtpTimestamp t1 = _clock.Now();
        socket.SendTo(request[..length], server);
        _outstanding[Normalize(server)] = (header.TransmitTimestamp, t1);
        return t1;
    }

    /// <summary>
    /// Waits until <paramref name="deadline"/> (UTC) for a reply to an outstanding request. Replies whose sender or
    /// origin timestamp match no outstanding request are ignored, as are malformed datagrams.
    /// </summary>
    public NtpResponse? Receive(DateTime deadline, Action<string>? trace = null)
    {
        while (true)
        {
            int remaining = (int)Math.Ceiling((deadline - DateTime.UtcNow).TotalMilliseconds);
            if (remaining <= 0)
            {
                return null;
            }

            foreach (NtpSocket? socket in new[] { _v4, _v6 })
            {
                if (socket is null)
                {
                    continue;
                }

                int wait = _v4 is not null && _v6 is not null ? Math.Min(remaining, 10) : remaining;
                if (socket.Receive(_datagram, wait) != ReceiveResult.Received)
                {
                    continue;
                }

                NtpTimestamp t4 = _datagram.ArrivalTime(_clock);
                IPEndPoint from = Normalize(_datagram.RemoteEndPoint);
                if (!_outstanding.TryGetValue(from, out (NtpTimestamp Sent, NtpTimestamp T1) request))
                {
                    trace?.Invoke($"receive: packet from unexpected source {from.Address}");
                    continue;
                }

                NtpTimestamp t1 = request.T1;
                ReplyStatus status = ReplyCheck.Check(_datagram.Payload, request.Sent, out NtpHeader header);
                if (status != ReplyStatus.Accepted)
                {
                    trace?.Invoke(status switch
                    {
                        ReplyStatus.Malformed => $"receive: malformed packet from {from.Address}",
                        ReplyStatus.UnexpectedMode => $"receive: unexpected mode {(int)header.Mode} from {from.Address}",
                        _ => $"receive: pkt.org and peer.xmt differ ({from.Address})",
                    });
                    continue;
                }

                if (Nts is NtsClientState nts)
                {
                    switch (nts.CheckReply(_datagram.Payload))
                    {
                        case NtsReplyCheck.Nak:
                            // RFC 8915 §5.7: the server could not use our cookie or keys; no time will come from it.
                            NtsRefusal = $"NTS NAK from {from.Address}: the server could not use our cookie";
                            trace?.Invoke($"receive: {NtsRefusal}");
                            _outstanding.Remove(from);
                            if (_outstanding.Count == 0)
                            {
                                return null;
                            }

                            continue;
                        case NtsReplyCheck.Bad:
                            NtsRefusal = $"a reply from {from.Address} failed the NTS checks (Unique Identifier or authenticator)";
                            trace?.Invoke($"receive: {NtsRefusal}");
                            continue;
                    }
                }
                else if (Key is SymmetricKey expected && Unauthentic(_datagram.Payload, expected) is string why)
                {
                    trace?.Invoke($"receive: {why} ({from.Address})");
                    continue;
                }

                _outstanding.Remove(from);
                return new NtpResponse(from, header, t1, t4);
            }
        }
    }

    /// <summary>Why a reply does not carry a valid MAC of <paramref name="key"/>, or null when it does.</summary>
    private string? Unauthentic(ReadOnlySpan<byte> payload, SymmetricKey key)
    {
        if (NtpPacket.TryParse(payload, out NtpPacket packet) != PacketStatus.Ok)
        {
            return "malformed packet";
        }

        return _keys.Check(packet, out SymmetricKey? signer) switch
        {
            AuthOutcome.Authentic when signer!.Id == key.Id => null,
            AuthOutcome.CryptoNak => "crypto-NAK: the server could not verify our MAC",
            AuthOutcome.None => $"reply not signed with key {key.Id}",
            _ => "authentication failed",
        };
    }

    public void Dispose()
    {
        _v4?.Dispose();
        _v6?.Dispose();
        _datagram.Dispose();
    }

    private static IPEndPoint Normalize(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
}
